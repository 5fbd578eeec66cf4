//! The operators Python gives meaning to beyond minijinja's: date arithmetic (`timedelta`
//! times a number, `-timedelta` too), `%` string formatting, enums equal to their value. Called in place of minijinja's operator
//! instructions (see [`super::compile`]); every other case is minijinja's own operator.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use super::check::Anything;
use super::enums::PyEnum;
use super::time;

/// The function names the compiled templates call (not reachable by a user's name: a
/// template that defines one only shadows it for itself).
pub(super) const ADD: &str = "__dagctl_add";
pub(super) const SUB: &str = "__dagctl_sub";
pub(super) const MUL: &str = "__dagctl_mul";
pub(super) const NEG: &str = "__dagctl_neg";
pub(super) const REM: &str = "__dagctl_rem";
pub(super) const EQ: &str = "__dagctl_eq";
pub(super) const NE: &str = "__dagctl_ne";
pub(super) const IN: &str = "__dagctl_in";

/// Adds the operator functions to `env`.
pub(super) fn register(env: &mut Environment<'_>) {
    env.add_function(ADD, |state: &State, a: Value, b: Value| {
        defined(&a, &b)?;
        if let Some(s) = sample(&a, &b) {
            return Ok(s);
        }
        time::add(&a, &b).unwrap_or_else(|| builtin(state, "a + b", a, b))
    });
    env.add_function(SUB, |state: &State, a: Value, b: Value| {
        defined(&a, &b)?;
        if let Some(s) = sample(&a, &b) {
            return Ok(s);
        }
        time::sub(&a, &b).unwrap_or_else(|| builtin(state, "a - b", a, b))
    });
    env.add_function(MUL, |state: &State, a: Value, b: Value| {
        defined(&a, &b)?;
        if let Some(s) = sample(&a, &b) {
            return Ok(s);
        }
        time::mul(&a, &b).unwrap_or_else(|| builtin(state, "a * b", a, b))
    });
    env.add_function(NEG, |state: &State, a: Value| {
        defined(&a, &Value::from(0))?;
        if Anything::is(&a) {
            return Ok(Anything::value());
        }
        match time::neg(&a) {
            Some(v) => Ok(v),
            None => builtin(state, "-a", a, Value::from(0)),
        }
    });
    env.add_function(REM, |state: &State, a: Value, b: Value| {
        defined(&a, &b)?;
        if let Some(s) = sample(&a, &b) {
            return Ok(s);
        }
        match a.as_str() {
            Some(format) => super::percent::format(format, &b).map(Value::from),
            None => builtin(state, "a % b", a, b),
        }
    });
    env.add_function(EQ, |a: Value, b: Value| {
        defined(&a, &b)?;
        Ok::<_, Error>(Value::from(equal(&a, &b)))
    });
    env.add_function(NE, |a: Value, b: Value| {
        defined(&a, &b)?;
        Ok::<_, Error>(Value::from(!equal(&a, &b)))
    });
    env.add_function(IN, |state: &State, a: Value, b: Value| {
        defined(&a, &b)?;
        if let Some(e) = a.downcast_object_ref::<PyEnum>() {
            if matches!(b.kind(), ValueKind::Seq | ValueKind::Iterable) {
                return Ok(Value::from(b.try_iter()?.any(|item| equal(&a, &item))));
            }
            let value = Value::from(e.value);
            return builtin(state, "a in b", value, b);
        }
        builtin(state, "a in b", a, b)
    });
}

/// Strict undefined, as minijinja's operators have it.
fn defined(a: &Value, b: &Value) -> Result<(), Error> {
    if a.is_undefined() || b.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

/// When checking with a sample run, what a sample takes part in is a sample.
fn sample(a: &Value, b: &Value) -> Option<Value> {
    (Anything::is(a) || Anything::is(b)).then(Anything::value)
}

/// `==` with Python's `str` enums: `dag_run.run_type == 'manual'`.
fn equal(a: &Value, b: &Value) -> bool {
    match (
        a.downcast_object_ref::<PyEnum>(),
        b.downcast_object_ref::<PyEnum>(),
    ) {
        (Some(x), None) => b.as_str().is_some_and(|s| x.is(s)),
        (None, Some(y)) => a.as_str().is_some_and(|s| y.is(s)),
        // A pendulum Interval is a timedelta: equal to one of the same length.
        _ => match (time::TimeDelta::of(a), time::TimeDelta::of(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// minijinja's own operator on `a` and `b`.
fn builtin(state: &State, expr: &str, a: Value, b: Value) -> Result<Value, Error> {
    state
        .env()
        .compile_expression(expr)?
        .eval(minijinja::context! { a => a, b => b })
}
