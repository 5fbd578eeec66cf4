//! Dataset conditions: which dataset updates start a run of a dataset-scheduled DAG, as
//! Airflow 2.9+ (and Airflow 3's assets) write and evaluate them.
//!
//! A condition is a dataset, or `&` (all of) and `|` (any of) over conditions, with
//! parentheses; `&` binds tighter than `|`, as in Python: `a | b & c` is `a | (b & c)`. A
//! plain list of datasets means all of them. The scheduler evaluates the condition over the
//! datasets that have an update the DAG has not consumed yet, exactly as Airflow evaluates it
//! over its dataset queue.

use std::fmt;

/// A condition over dataset updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetCondition {
    /// This dataset has an update not consumed yet.
    Dataset(String),
    /// Every one of these (`a & b`, or a list).
    All(Vec<DatasetCondition>),
    /// At least one of these (`a | b`).
    Any(Vec<DatasetCondition>),
}

/// Why a condition text does not parse: the message and the character offset it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// What is wrong.
    pub message: String,
    /// Offset in characters from the start of the text.
    pub offset: usize,
}

impl DatasetCondition {
    /// All of `items` (one item stands for itself; nested "all" are flattened).
    pub fn all(items: Vec<DatasetCondition>) -> DatasetCondition {
        Self::join(items, true)
    }

    /// Any of `items` (one item stands for itself; nested "any" are flattened).
    pub fn any(items: Vec<DatasetCondition>) -> DatasetCondition {
        Self::join(items, false)
    }

    fn join(items: Vec<DatasetCondition>, all: bool) -> DatasetCondition {
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match item {
                DatasetCondition::All(inner) if all => flat.extend(inner),
                DatasetCondition::Any(inner) if !all => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            return flat.pop().expect("one item");
        }
        if all {
            DatasetCondition::All(flat)
        } else {
            DatasetCondition::Any(flat)
        }
    }

    /// Parses `((s3://a & s3://b) | c)`: dataset names or URIs joined by `&` and `|`, with
    /// parentheses. A name is any run of characters other than white space, `&`, `|` and
    /// parentheses.
    ///
    /// # Errors
    /// What is wrong and where (an empty text, a missing operand or parenthesis, a word such
    /// as `and` used as an operator).
    pub fn parse(text: &str) -> Result<DatasetCondition, ConditionError> {
        let mut p = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let cond = p.any()?;
        p.skip_space();
        if p.at < p.chars.len() {
            let c = p.chars[p.at];
            let word: String = p.chars[p.at..]
                .iter()
                .take_while(|c| c.is_alphabetic())
                .collect();
            if matches!(word.to_ascii_lowercase().as_str(), "and" | "or") {
                return Err(p.error(format!(
                    "`{word}` is not an operator here: write `&` for and, `|` for or"
                )));
            }
            return Err(p.error(if c == ')' {
                "`)` without a matching `(`".to_string()
            } else {
                format!("expected `&`, `|` or the end, found `{c}`")
            }));
        }
        Ok(cond)
    }

    /// The datasets the condition names, each once, in the order first written.
    pub fn datasets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            DatasetCondition::Dataset(d) => {
                if !out.contains(&d.as_str()) {
                    out.push(d);
                }
            }
            DatasetCondition::All(items) | DatasetCondition::Any(items) => {
                for i in items {
                    i.collect(out);
                }
            }
        }
    }

    /// Whether the condition holds when exactly the datasets for which `updated` is true have
    /// an update waiting.
    pub fn evaluate(&self, updated: &dyn Fn(&str) -> bool) -> bool {
        match self {
            DatasetCondition::Dataset(d) => updated(d),
            DatasetCondition::All(items) => items.iter().all(|i| i.evaluate(updated)),
            DatasetCondition::Any(items) => items.iter().any(|i| i.evaluate(updated)),
        }
    }

    fn fmt_inner(&self, f: &mut fmt::Formatter<'_>, nested: bool) -> fmt::Result {
        let (items, sep) = match self {
            DatasetCondition::Dataset(d) => return f.write_str(d),
            DatasetCondition::All(items) => (items, " & "),
            DatasetCondition::Any(items) => (items, " | "),
        };
        if nested {
            f.write_str("(")?;
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            item.fmt_inner(f, true)?;
        }
        if nested {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for DatasetCondition {
    /// `a & b`, `(a & b) | c`: every nested group in parentheses, so it reads unambiguously.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_inner(f, false)
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn error(&self, message: String) -> ConditionError {
        ConditionError {
            message,
            offset: self.at,
        }
    }

    fn skip_space(&mut self) {
        while self.at < self.chars.len() && self.chars[self.at].is_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.chars.get(self.at) == Some(&c) {
            self.at += 1;
            return true;
        }
        false
    }

    fn any(&mut self) -> Result<DatasetCondition, ConditionError> {
        let mut items = vec![self.all()?];
        while self.eat('|') {
            items.push(self.all()?);
        }
        Ok(DatasetCondition::any(items))
    }

    fn all(&mut self) -> Result<DatasetCondition, ConditionError> {
        let mut items = vec![self.operand()?];
        while self.eat('&') {
            items.push(self.operand()?);
        }
        Ok(DatasetCondition::all(items))
    }

    fn operand(&mut self) -> Result<DatasetCondition, ConditionError> {
        self.skip_space();
        if self.eat('(') {
            let open = self.at - 1;
            let inner = self.any()?;
            if !self.eat(')') {
                return Err(ConditionError {
                    message: "`(` is never closed".into(),
                    offset: open,
                });
            }
            return Ok(inner);
        }
        let start = self.at;
        while let Some(&c) = self.chars.get(self.at) {
            if c.is_whitespace() || matches!(c, '&' | '|' | '(' | ')') {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error(match self.chars.get(self.at) {
                None => "a dataset is missing at the end".into(),
                Some(c) => format!("a dataset is missing before `{c}`"),
            }));
        }
        let word: String = self.chars[start..self.at].iter().collect();
        if matches!(word.as_str(), "and" | "or" | "AND" | "OR" | "not" | "NOT") {
            return Err(ConditionError {
                message: format!("`{word}` is not an operator here: write `&` for and, `|` for or"),
                offset: start,
            });
        }
        Ok(DatasetCondition::Dataset(word))
    }
}

#[cfg(test)]
mod tests {
    use super::DatasetCondition as C;

    fn d(s: &str) -> C {
        C::Dataset(s.into())
    }

    #[test]
    fn precedence_and_parentheses_are_pythons() {
        assert_eq!(
            C::parse("a | b & c").unwrap(),
            C::Any(vec![d("a"), C::All(vec![d("b"), d("c")])])
        );
        assert_eq!(
            C::parse("((s3://x/a & s3://x/b) | s3://x/c)").unwrap(),
            C::Any(vec![
                C::All(vec![d("s3://x/a"), d("s3://x/b")]),
                d("s3://x/c")
            ])
        );
        assert_eq!(C::parse(" (a) ").unwrap(), d("a"));
        assert_eq!(
            C::parse("a & b & c").unwrap(),
            C::All(vec![d("a"), d("b"), d("c")])
        );
        assert_eq!(C::parse("(a | b) & c").unwrap().to_string(), "(a | b) & c");
    }

    #[test]
    fn bad_conditions_say_where() {
        for (text, needle, at) in [
            ("", "missing at the end", 0),
            ("a &", "missing at the end", 3),
            ("(a | b", "never closed", 0),
            ("a | b)", "without a matching", 5),
            ("a and b", "`and` is not an operator", 2),
            ("a b", "expected `&`", 2),
            ("and", "not an operator", 0),
            ("a & | b", "missing before `|`", 4),
        ] {
            let e = C::parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {e:?}");
            assert_eq!(e.offset, at, "{text}: {e:?}");
        }
    }

    #[test]
    fn evaluation_is_boolean_over_updated_datasets() {
        let c = C::parse("(a & b) | c").unwrap();
        let cases: [(&[&str], bool); 8] = [
            (&[], false),
            (&["a"], false),
            (&["b"], false),
            (&["a", "b"], true),
            (&["c"], true),
            (&["a", "c"], true),
            (&["b", "c"], true),
            (&["a", "b", "c"], true),
        ];
        for (set, want) in cases {
            assert_eq!(c.evaluate(&|x| set.contains(&x)), want, "{set:?}");
        }
        assert_eq!(c.datasets(), ["a", "b", "c"]);
    }
}
