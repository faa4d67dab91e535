//! Every sample payload in events/ parses to the action documented in events/README.md.

use runtime_scheduler::command::{Action, Request, Trigger};

#[test]
fn every_sample_payload_parses_to_its_documented_action() {
    let expected = [
        ("start.json", Action::Start, Trigger::Manual, false),
        ("stop.json", Action::Stop, Trigger::Manual, false),
        ("status.json", Action::Status, Trigger::Manual, false),
        ("start-dry-run.json", Action::Start, Trigger::Manual, true),
        ("stop-dry-run.json", Action::Stop, Trigger::Manual, true),
        (
            "scheduler-start.json",
            Action::Start,
            Trigger::Schedule,
            false,
        ),
        (
            "scheduler-stop.json",
            Action::Stop,
            Trigger::Schedule,
            false,
        ),
        (
            "eventbridge-rule-start.json",
            Action::Start,
            Trigger::Schedule,
            false,
        ),
        (
            "eventbridge-rule-stop.json",
            Action::Stop,
            Trigger::Schedule,
            false,
        ),
        (
            "scheduler-reconcile.json",
            Action::Reconcile,
            Trigger::Schedule,
            false,
        ),
        (
            "reconcile-dry-run-at.json",
            Action::Reconcile,
            Trigger::Manual,
            true,
        ),
        ("start-hold.json", Action::Start, Trigger::Manual, false),
        ("stop-force.json", Action::Stop, Trigger::Manual, false),
        (
            "override-keep-running.json",
            Action::Override,
            Trigger::Manual,
            false,
        ),
        (
            "override-clear.json",
            Action::Override,
            Trigger::Manual,
            false,
        ),
        ("deploy.json", Action::Deploy, Trigger::Manual, false),
        (
            "teardown-dry-run.json",
            Action::Teardown,
            Trigger::Manual,
            true,
        ),
        ("wake.json", Action::Start, Trigger::Wake, false),
        ("idle-alarm.json", Action::Idle, Trigger::Alarm, false),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = expected.iter().map(|(f, ..)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every file in events/ is listed here and in events/README.md"
    );

    let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
    for (file, action, trigger, dry_run) in expected {
        // Parsed as of today: a sample that carries an instant must not expire.
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let request =
            Request::parse(&bytes, chrono::Utc::now()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            (request.action(), request.trigger, request.dry_run),
            (action, trigger, dry_run),
            "{file}"
        );
        let row = readme
            .lines()
            .find(|l| l.contains(&format!("`{file}`")))
            .unwrap_or_else(|| panic!("{file} not in README"));
        assert!(
            row.contains(&format!("| {} |", action.as_str())),
            "README row for {file} names another action: {row}"
        );
    }
}
