//! The loader never panics (or hangs) whatever it is given: random bytes, and random
//! mutations of valid configs.

use proptest::prelude::*;
use sluice_runtime::config::{check, load_stream, LoadOptions, Scope};

const VALID: &[&str] = &[
    "input:\n  http_server: {}\nbuffer:\n  memory: {}\npipeline:\n  threads: 4\n  processors:\n    - mapping: |\n        root = {\n          \"id\": this.user.id,\n          \"content\": this.body.content\n        }\noutput:\n  http_server: {}\n",
    "input:\n  kafka:\n    addresses:\n      - localhost:9092\n    topics:\n      - my_topic\npipeline:\n  threads: 1\n  processors:\n    - mapping: 'root = this.uppercase()'\noutput:\n  elasticsearch:\n    urls:\n      - http://localhost:9200\n",
    "{\"input\":{\"generate\":{\"mapping\":\"root = deleted()\",\"count\":3}},\"output\":{\"drop\":{}},\"pipeline\":{\"processors\":[{\"switch\":[{\"check\":\"this.a == 1\",\"processors\":[{\"log\":{\"message\":\"${! content() }\"}}]}]}]}}",
    "a: &x {b: [1, 2]}\nc: *x\nhttp:\n  address: ${HOST:0.0.0.0:4195}\ncache_resources:\n  - label: c\n    memory: {default_ttl: 1m}\n",
];

const ALPHABET: &[u8] = b" \n\t:-{}[],'\"|>&*!#%@`?$\\0aZ~.";

fn env(name: &str) -> Option<String> {
    (name == "HOST").then(|| "h\nx".to_string())
}

fn exercise(bytes: &[u8]) {
    for scope in [Scope::Stream, Scope::Config] {
        let opts = LoadOptions {
            scope,
            env: Some(&env),
            ..LoadOptions::new(sluice_runtime::components::catalog::registry())
        };
        let _ = check(bytes, &opts);
        if let Ok((cfg, _)) = load_stream(bytes, &opts) {
            let _ = cfg.render();
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let c = proptest::sample::select(ALPHABET);
    prop_oneof![
        (any::<usize>(), c.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), c).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(mut text: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = text.len().max(1);
        match *e {
            Edit::Insert(i, b) => text.insert(i % (text.len() + 1), b),
            Edit::Delete(i) if !text.is_empty() => {
                text.remove(i % len);
            }
            Edit::Replace(i, b) if !text.is_empty() => text[i % len] = b,
            Edit::Duplicate(i, n) if !text.is_empty() => {
                let start = i % len;
                let end = (start + n).min(text.len());
                let chunk = text[start..end].to_vec();
                text.splice(start..start, chunk);
            }
            _ => {}
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&bytes);
    }

    #[test]
    fn random_yamlish_text_never_panics(bytes in proptest::collection::vec(proptest::sample::select(ALPHABET), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_configs_never_panic(which in 0..VALID.len(), edits in proptest::collection::vec(edit(), 1..12)) {
        exercise(&apply(VALID[which].as_bytes().to_vec(), &edits));
    }
}

#[test]
fn valid_seeds_load() {
    for (i, text) in VALID.iter().enumerate() {
        let scope = if i == 3 { Scope::Config } else { Scope::Stream };
        let opts = LoadOptions {
            scope,
            env: Some(&env),
            ..LoadOptions::new(sluice_runtime::components::catalog::registry())
        };
        let lints = check(text, &opts);
        if i == 3 {
            // `a` and `c` are not config fields.
            assert_eq!(
                lints.iter().map(ToString::to_string).collect::<Vec<_>>(),
                vec![
                    "(1,1) field a not recognised",
                    "(2,1) field c not recognised"
                ]
            );
        } else {
            assert!(lints.is_empty(), "seed {i}: {lints:?}");
        }
    }
}

#[test]
fn huge_and_deep_inputs_are_rejected_quickly() {
    let start = std::time::Instant::now();
    exercise(&vec![b'['; 5 * 1024 * 1024]);
    exercise("a: ".repeat(100_000).as_bytes());
    exercise(&"- ".repeat(100_000).into_bytes());
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    exercise(bomb.as_bytes());
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}
