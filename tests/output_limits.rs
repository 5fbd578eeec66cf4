//! A task that prints without end fills neither memory nor the store: one line is cut at
//! 64 KiB (saying how much was cut), a try's log stops at its cap (`DAGCTL_LOG_MAX_BYTES`,
//! 16 MiB by default) saying so, and the task still succeeds.

mod common;

use common::Env;

#[test]
fn an_endless_line_and_endless_output_are_cut_and_said_to_be() {
    let env = Env::new(&[(
        "loud.yaml",
        "dag_id: loud\ntasks:\n  line:\n    operator: command\n    bash_command: \"head -c 3000000 /dev/zero | tr '\\\\0' a; echo; echo done\"\n  many:\n    operator: command\n    bash_command: 'seq 1 400000; echo last'\n",
    )]);
    let out = env
        .process(&["trigger", "loud", "--run-id", "r"])
        .env("DAGCTL_LOG_MAX_BYTES", "1048576")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::out_text(&out));
    let log = |task: &str| {
        let o = env.process(&["tasks", "logs", "r", task]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let line = log("line");
    assert!(
        line.contains("… [2934464 more bytes of this line not kept]"),
        "{}",
        &line[line.len().saturating_sub(300)..]
    );
    assert!(line.len() < 100_000, "{} bytes kept", line.len());
    assert!(line.contains("done"));
    let many = log("many");
    assert!(many.len() <= 1_100_000, "{} bytes kept", many.len());
    assert!(
        many.contains("reached its cap of 1048576 bytes"),
        "{}",
        &many[many.len().saturating_sub(300)..]
    );
}
