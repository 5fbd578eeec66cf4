//! A task that prints without end fills neither memory nor the store: one line is cut at
//! 64 KiB (saying how much was cut), a try's log keeps its head and its tail within its cap
//! (`DAGCTL_LOG_MAX_BYTES`, 16 MiB by default) saying how much was cut between them, and the
//! task still succeeds.

use crate::common;

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
    // The head from the first line, the tail to the last, and what was cut between, said.
    assert!(many.starts_with("1\n2\n3\n"), "{}", &many[..50]);
    assert!(
        many.ends_with("399999\n400000\nlast\n"),
        "{}",
        &many[many.len() - 50..]
    );
    let note = many
        .lines()
        .find(|l| l.contains("cut here"))
        .expect("a line says what was cut");
    let cut: u64 = note["[dagctl: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let kept_numbers = many.lines().filter(|l| l.parse::<u64>().is_ok()).count() as u64;
    assert_eq!(kept_numbers + cut, 400_000, "{note}");
}
