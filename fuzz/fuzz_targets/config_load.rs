//! The config loader: YAML/JSON text → document → spec-driven decode and lint → stream plan.
//! Any input must give a config, lints or an error; never a panic, hang or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_runtime::components::{build_plan, PlanContext};
use sluice_runtime::config::{self, stream::Scope, LoadOptions};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        scope: Scope::Stream,
        lint: true,
        ..LoadOptions::new(sluice_runtime::components::catalog::registry())
    };
    let Ok((doc, _lints)) = config::read_document(data, &opts) else {
        return;
    };
    let _ = doc.to_json();
    let Ok((cfg, _more)) = config::decode_stream(sluice_runtime::components::catalog::registry(), &doc, Scope::Stream, true) else {
        return;
    };
    let _ = cfg.render();
    // Networked components would bind or dial: build only self-contained plans.
    let text = String::from_utf8_lossy(data);
    if ["http_server", "kafka", "http_client", "elasticsearch", "address", "file", "stdin"]
        .iter()
        .any(|n| text.contains(n))
    {
        return;
    }
    let _guard = runtime().enter();
    let ctx = PlanContext {
        stream: "fuzz".into(),
        endpoints: Default::default(),
        prefix_endpoints: true,
        rate_limits: Default::default(),
    };
    let _ = build_plan(&cfg, &ctx);
});
