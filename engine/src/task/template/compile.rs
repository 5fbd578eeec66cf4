//! Compiling and running a template with Python's meaning of a few operators.
//!
//! minijinja's `+`, `-`, `%`, `==`, `!=` and `in` know numbers, strings and sequences only; in
//! Airflow (Jinja on Python) `logical_date - macros.timedelta(days=1)` is a date-time, `'%s'
//! % x` formats and `dag_run.run_type == 'manual'` compares an enum with its value. minijinja
//! has no hook for operators on custom values, so a template is compiled by minijinja's own
//! parser and code generator (its `unstable_machinery`, hence the exact version pin) and the
//! instructions of these operators are replaced by calls of functions with the same stack
//! effect (two values in, one out) — [`super::ops`] — that handle the Python cases and give
//! every other case to minijinja's operator.

use minijinja::machinery::{self, CodeGenerator, Instruction, Instructions};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error};

/// The name templates are compiled under (errors do not show it).
const NAME: &str = "<template>";

/// Renders `source` with `ctx` in `env`. A panic in a template function (a bug) is an
/// error of this template, never the end of the process that loads or runs the DAG.
pub(super) fn render(env: &Environment<'_>, source: &str, ctx: Value) -> Result<String, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(env, source, ctx))).unwrap_or_else(
        |_| {
            Err(Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "the template hit an internal error of dagctl (please report it)",
            ))
        },
    )
}

fn run(env: &Environment<'_>, source: &str, ctx: Value) -> Result<String, Error> {
    let ast = machinery::parse(source, NAME, SyntaxConfig::default())?;
    let mut generator = CodeGenerator::new(NAME, source);
    generator.compile_stmt(&ast);
    let (mut instructions, mut blocks) = generator.finish();
    patch(&mut instructions);
    blocks.values_mut().for_each(patch);
    let mut out = String::with_capacity(source.len() + 32);
    machinery::eval(
        env,
        &instructions,
        ctx,
        &blocks,
        &mut machinery::make_string_output(&mut out),
        AutoEscape::None,
    )?;
    Ok(out)
}

/// Replaces the operators Python gives more meaning to by calls of [`super::ops`].
fn patch(instructions: &mut Instructions<'_>) {
    let mut i = 0;
    while let Some(instruction) = instructions.get_mut(i) {
        let (function, operands) = match instruction {
            Instruction::Add => (super::ops::ADD, 2),
            Instruction::Sub => (super::ops::SUB, 2),
            Instruction::Mul => (super::ops::MUL, 2),
            Instruction::Rem => (super::ops::REM, 2),
            Instruction::Eq => (super::ops::EQ, 2),
            Instruction::Ne => (super::ops::NE, 2),
            Instruction::In => (super::ops::IN, 2),
            Instruction::Neg => (super::ops::NEG, 1),
            _ => {
                i += 1;
                continue;
            }
        };
        *instruction = Instruction::CallFunction(function, Some(operands));
        i += 1;
    }
}
