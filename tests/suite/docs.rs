//! The documentation is checked like code: every payload example parses, the schedule example
//! decides what the text says, docs/responses.md names every outcome, step, status and error
//! type, every relative link resolves and every `make` target named exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use runtime_scheduler::command::{Request, Trigger};
use runtime_scheduler::handler::Outcome;
use runtime_scheduler::plan::StepKind;
use runtime_scheduler::schedule::{decide, DecisionInput, Desired, Intent, OverrideTags, Window};
use runtime_scheduler::spec::Spec;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, docs/*.md, events/README.md and the Terraform roots' READMEs.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![
        root().join("README.md"),
        root().join("events/README.md"),
        root().join("terraform-base/README.md"),
        root().join("terraform-runtime/README.md"),
    ];
    let mut in_docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);
    docs.retain(|p| p.exists());
    docs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Payload examples: the JSON objects of ```json blocks that have an "action", and the
/// payloads piped into `runtime-scheduler invoke -`.
fn payload_examples(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_json = false;
    let mut block = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```json") {
            in_json = true;
            block.clear();
            continue;
        }
        if in_json && trimmed.starts_with("```") {
            in_json = false;
            if block.contains("\"action\"") {
                out.push(block.clone());
            }
            continue;
        }
        if in_json {
            block.push_str(line);
            block.push('\n');
        }
        if let Some(rest) = trimmed.strip_prefix("echo '") {
            if let Some((payload, tail)) = rest.split_once("' |") {
                if tail.contains("invoke -") {
                    out.push(payload.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_payload_example_in_the_docs_parses_today() {
    let mut seen = 0;
    for doc in documents() {
        for example in payload_examples(&read(&doc)) {
            seen += 1;
            Request::parse(example.as_bytes(), chrono::Utc::now())
                .unwrap_or_else(|e| panic!("{}: example {example}\n{e}", doc.display()));
        }
    }
    assert!(
        seen >= 4,
        "only {seen} payload examples found: the scan is broken"
    );
}

#[test]
fn the_schedule_example_decides_what_the_text_says() {
    let text = read(&root().join("docs/scheduling.md"));
    let example = payload_examples(&text)
        .into_iter()
        .find(|p| p.contains("\"at\""))
        .expect("the at example");
    let request = Request::parse(example.as_bytes(), chrono::Utc::now()).unwrap();
    let spec = Spec::from_json(
        include_bytes!("../../docs/runtime-spec.example.json"),
        "demo",
    )
    .unwrap();
    let window = Window::from_spec(spec.schedule.as_ref().unwrap());
    let decision = decide(&DecisionInput {
        intent: Intent::Reconcile,
        trigger: Trigger::Manual,
        force: false,
        now: request.at.unwrap(),
        window: Some(&window),
        overrides: &OverrideTags::None,
        hold: None,
        default_hold: chrono::Duration::hours(2),
        hold_request: None,
        on_demand: false,
        idle: None,
    });
    assert!(text.contains("this answers `running`"));
    assert_eq!(decision.desired, Some(Desired::Running), "{decision:?}");
}

#[test]
fn responses_md_names_every_outcome_step_status_and_error_type() {
    use strum::IntoEnumIterator;
    let text = read(&root().join("docs/responses.md"));
    let mut missing = Vec::new();
    for o in Outcome::iter() {
        if !text.contains(&format!("`{}`", o.as_str())) {
            missing.push(format!("outcome {}", o.as_str()));
        }
    }
    for name in StepKind::all_names() {
        if !text.contains(&format!("`{name}`")) {
            missing.push(format!("step {name}"));
        }
    }
    for status in [
        "planned",
        "done",
        "failed",
        "timed-out",
        "interrupted",
        "not-started",
    ] {
        if !text.contains(&format!("`{status}`")) {
            missing.push(format!("status {status}"));
        }
    }
    for error_type in ERROR_TYPES {
        if !text.contains(&format!("`{error_type}`")) {
            missing.push(format!("error type {error_type}"));
        }
    }
    assert!(missing.is_empty(), "docs/responses.md lacks: {missing:?}");
}

/// Every `errorType` an invocation can fail with.
const ERROR_TYPES: [&str; 10] = [
    "InvalidPayload",
    "InvalidSpec",
    "SpecMissing",
    "StateBucketMissing",
    "Refused",
    "AwsReadFailed",
    "StateUnreadable",
    "StateReadFailed",
    "StateWriteFailed",
    "RunFailed",
];

#[test]
fn the_troubleshooting_guide_has_a_section_per_outcome_and_error_type() {
    use strum::IntoEnumIterator;
    let text = read(&root().join("docs/troubleshooting-guide.md"));
    let headings: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    let mut missing: Vec<String> = Outcome::iter()
        .map(|o| o.as_str().to_string())
        .chain(ERROR_TYPES.iter().map(|e| e.to_string()))
        .filter(|name| !headings.contains(&name.as_str()))
        .collect();
    // The wake front's refusals, by the name the code gives them.
    for refusal in [
        "AddressNotAllowed",
        "BadToken",
        "WrongSecret",
        "CrossOrigin",
        "BadHours",
    ] {
        if !headings.iter().any(|h| h.starts_with(refusal)) {
            missing.push(refusal.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/troubleshooting-guide.md has no `### <name>` section for: {missing:?}"
    );
}

/// `[text](target)` links of a markdown text.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut broken = Vec::new();
    for doc in documents() {
        for link in links(&read(&doc)) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with('#')
                || link.starts_with("mailto:")
                || link.contains(' ')
            {
                continue;
            }
            let path = link.split('#').next().unwrap_or_default();
            let target = doc.parent().unwrap().join(path);
            if !target.exists() {
                broken.push(format!("{}: {link}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn every_make_target_the_docs_name_exists() {
    let makefile = read(&root().join("Makefile"));
    let targets: BTreeSet<String> = makefile
        .lines()
        .filter_map(|l| {
            let (name, _) = l.split_once(':')?;
            (!name.is_empty()
                && !name.starts_with('\t')
                && !name.starts_with('.')
                && !name.contains(' ')
                && !name.contains('$')
                && !name.contains('='))
            .then(|| name.to_string())
        })
        .collect();
    let mut missing = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let mut rest = text.as_str();
        // `make x` in inline code, or a line of a code block that starts with it.
        while let Some(at) = rest.find("make ") {
            let before = rest[..at].chars().last();
            rest = &rest[at + 5..];
            if !matches!(before, Some('`') | Some('\n') | Some('&')) {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if name.is_empty() || name.chars().next().is_some_and(|c| c.is_uppercase()) {
                continue;
            }
            if !targets.contains(&name) {
                missing.push(format!("{}: make {name}", doc.display()));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "make targets named in the docs but not in the Makefile: {missing:#?}"
    );
}
