//! PostgreSQL's form of a claim: its conditional update, its try row and the counters that
//! follow it in **one** statement, so a claim costs one round trip under the DAG's lock
//! instead of four (the lock is held from the first claim of a batch to its commit, and every
//! other process claiming for that DAG waits for it).
//!
//! The statements that follow a claim ([`Role::ClaimInsert`]: only if it won,
//! [`Role::ClaimLost`]: only if it lost) each hold [`GATE`] in their `WHERE` clause. Run one
//! by one (SQLite, which has no data-modifying `WITH`), the gate is a comment and the
//! committer's [`super::Tally`] decides which of them run; fused, it becomes the condition on
//! the claim's own outcome:
//!
//! ```sql
//! WITH claim AS (UPDATE task_instances … RETURNING 1),
//!      m1 AS (INSERT INTO task_tries … WHERE 1 = 1 AND EXISTS (SELECT 1 FROM claim)),
//!      m2 AS (INSERT INTO metric_counts … AND NOT EXISTS (SELECT 1 FROM claim) ON CONFLICT …)
//! SELECT COUNT(*) FROM claim
//! ```
//!
//! Every part of a `WITH` sees the rows as they were before the statement, which is what the
//! parts read: the claimed instance's pool (unchanged by the claim) and the run's other tries
//! (the lag counts a run's first try; the new try is excluded by its own condition).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use super::{Param, Role, Stmt};

/// Where a statement that follows a claim takes its condition on the claim's outcome: a
/// comment when statements run one by one.
pub(in crate::store) const GATE: &str = "/*gate*/";

/// The claim `update` and the statements that follow it, as one statement whose single row
/// and column is 1 if the claim won, 0 if it lost. `members` are [`Role::ClaimInsert`] or
/// [`Role::ClaimLost`] statements, each with [`GATE`] once.
pub(in crate::store) fn fuse_claim(update: Stmt, members: Vec<Stmt>) -> FusedClaim {
    let key: Vec<(usize, bool)> = std::iter::once(&update)
        .chain(&members)
        .map(|s| (s.sql.as_ptr() as usize, s.role == Role::ClaimLost))
        .collect();
    let sql = {
        // A handful of forms (the claim's four, with or without a slot wait): each built once.
        type Forms = Mutex<HashMap<Vec<(usize, bool)>, &'static str>>;
        static FORMS: LazyLock<Forms> = LazyLock::new(Mutex::default);
        let mut forms = FORMS.lock().unwrap_or_else(|e| e.into_inner());
        *forms
            .entry(key)
            .or_insert_with(|| Box::leak(fused_sql(&update, &members).into_boxed_str()))
    };
    let mut params = update.params;
    for m in members {
        params.extend(m.params);
    }
    FusedClaim { sql, params }
}

/// A claim fused with what follows it (see [`fuse_claim`]).
pub(in crate::store) struct FusedClaim {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

fn fused_sql(update: &Stmt, members: &[Stmt]) -> String {
    let mut sql = format!("WITH claim AS ({} RETURNING 1)", update.sql);
    let mut offset = update.params.len();
    for (i, m) in members.iter().enumerate() {
        let condition = match m.role {
            Role::ClaimInsert => " AND EXISTS (SELECT 1 FROM claim)",
            Role::ClaimLost => " AND NOT EXISTS (SELECT 1 FROM claim)",
            other => unreachable!("a {other:?} statement does not follow a claim"),
        };
        debug_assert_eq!(m.sql.matches(GATE).count(), 1, "{}", m.sql);
        let gated = m.sql.replacen(GATE, condition, 1);
        sql.push_str(&format!(", m{i} AS ({})", shifted(&gated, offset)));
        offset += m.params.len();
    }
    sql.push_str(" SELECT COUNT(*) FROM claim");
    sql
}

/// `sql` with each parameter `$N` renamed `$(N + by)`.
fn shifted(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            out.push_str(&(n + by).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renamed_past_the_ones_before() {
        assert_eq!(
            shifted("a = $1 AND b = $10 OR $2 || '$'", 7),
            "a = $8 AND b = $17 OR $9 || '$'"
        );
    }

    #[test]
    fn every_statement_after_a_claim_has_its_gate() {
        let at = chrono::Utc::now();
        let batch = crate::store::Batch {
            dag_id: "d".into(),
            run_id: "r".into(),
            changes: vec![crate::store::Change::Claim {
                task_id: "t".into(),
                try_number: 1,
                worker_id: "w".into(),
                max_active_tasks: 16,
                max_active_tis_per_dag: Some(2),
                pool: Some(("p".into(), 4)),
                waited: Some(std::time::Duration::from_millis(3)),
                lease_until: at,
                at,
                queued: false,
            }],
        };
        let stmts = super::super::statements(&batch);
        let first = stmts
            .iter()
            .position(|s| s.role == Role::ClaimUpdate)
            .unwrap();
        let members: Vec<Stmt> = stmts
            .into_iter()
            .skip(first + 1)
            .take_while(|s| matches!(s.role, Role::ClaimInsert | Role::ClaimLost))
            .collect();
        // The try row, the slot wait, the lag, the refusal.
        assert_eq!(members.len(), 4);
        assert!(members.iter().all(|m| m.sql.matches(GATE).count() == 1));
        let n: usize = members.iter().map(|m| m.params.len()).sum();
        let update = Stmt {
            sql: "UPDATE x SET a = $1",
            params: vec![Param::Int(1)],
            role: Role::ClaimUpdate,
        };
        let fused = fuse_claim(update, members);
        assert_eq!(fused.params.len(), n + 1);
        assert!(fused.sql.contains(&format!("${}", n + 1)));
        assert!(!fused.sql.contains(&format!("${}", n + 2)));
        assert!(!fused.sql.contains(GATE));
        assert_eq!(
            fused
                .sql
                .matches("NOT EXISTS (SELECT 1 FROM claim)")
                .count(),
            1
        );
    }
}
