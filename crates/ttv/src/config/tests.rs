use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::request::{AspectRatio, Resolution, ResolutionSpec, VideoDuration};
use crate::router::Preference;

const PIPELINE: &str = include_str!("../../tests/fixtures/pipeline_config.yaml");

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn at<'a>(loaded: &'a Loaded, path: &str) -> Vec<&'a Finding> {
    loaded.findings.iter().filter(|f| f.path == path).collect()
}

fn errors(loaded: &Loaded) -> Vec<String> {
    loaded.errors().map(ToString::to_string).collect()
}

fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_original_pipeline_file_loads_and_resolves() {
    let loaded = from_yaml(
        PIPELINE,
        &env(&[
            ("RUNWAYML_API_SECRET", "rw-secret-1"),
            ("OPENAI_API_KEY", "sk-openai-2"),
        ]),
    );
    assert_eq!(errors(&loaded), Vec::<String>::new());
    // Placeholders in the file are called out and ignored.
    assert_eq!(
        warnings(&loaded),
        [
            "warning: minimax.api_key: looks like a placeholder, not a key; ignored (set it here or in MINIMAX_API_KEY)",
            "warning: gemini_api_key: looks like a placeholder, not a key; ignored",
        ]
    );
    let s = &loaded.settings;
    assert_eq!(s.default_backend, "runway");
    assert_eq!(s.fallback, ["wan2.1"]);
    assert_eq!(s.retry.max_retries, 3);
    assert_eq!(s.retry.job_timeout, Some(Duration::from_secs(600)));
    // Relative paths are made absolute (here against the current folder: no file).
    assert_eq!(
        s.output_dir,
        std::env::current_dir().unwrap().join("output")
    );
    assert_eq!(
        s.defaults,
        RequestDefaults {
            duration: VideoDuration::try_from_secs_f64(5.0),
            aspect: Some(AspectRatio::new(16, 9).unwrap()),
            resolution: Some(ResolutionSpec::Exact(Resolution::new(1280, 720))),
            seed: Some(42),
        }
    );

    let runway = s.registry.runway.as_ref().unwrap();
    assert_eq!(runway.api_key.as_ref().unwrap().expose(), "rw-secret-1");
    assert_eq!(runway.model, "gen4_turbo", "model_version is read as model");
    let minimax = s.registry.minimax.as_ref().unwrap();
    assert!(minimax.api_key.is_none());
    assert_eq!(minimax.model, "I2V-01-Director");
    assert_eq!(minimax.base_url, "https://api.minimaxi.chat/v1");
    let fal = s.registry.fal.as_ref().unwrap();
    assert!(
        fal.api_key.is_none(),
        "${{FAL_KEY:-}} with FAL_KEY unset is no key"
    );
    assert_eq!(
        fal.default_input["generate_audio"],
        serde_json::json!(false)
    );

    let here = std::env::current_dir().unwrap();
    let wan = s.registry.wan.as_ref().unwrap();
    assert_eq!(wan.wan2_dir, here.join("Wan2.1"));
    assert_eq!(
        wan.i2v_model_dir.as_deref(),
        Some(here.join("Wan2.1/Wan2.1-I2V-14B-720P").as_path())
    );
    assert_eq!(
        (
            wan.frame_num,
            wan.sample_steps,
            wan.sample_shift,
            wan.guide_scale
        ),
        (Some(81), Some(40), Some(5.0), Some(5.0))
    );
    assert_eq!(wan.base_seed, Some(42));
    assert_eq!((wan.run.total_gpus, wan.run.parallel_segments), (2, 1));
    let hunyuan = s.registry.hunyuan.as_ref().unwrap();
    assert_eq!(
        hunyuan.repo_dir.as_deref(),
        Some(here.join("HunyuanVideo").as_path())
    );
    assert_eq!(
        hunyuan.model_base.as_deref(),
        Some(here.join("HunyuanVideo/ckpts").as_path()),
        "ckpt_path is read as model_base"
    );

    // Keys of the pipeline's other steps are noted, not warned about.
    for key in [
        "task",
        "prompt",
        "chaining_max_retries",
        "runway_ml.max_duration",
        "hunyuan_video.config_file",
    ] {
        let found = at(&loaded, key);
        assert_eq!(found.len(), 1, "{key}: {:?}", loaded.findings);
        assert_eq!(found[0].severity, Severity::Note);
    }
    let sources: Vec<_> = loaded
        .secrets
        .iter()
        .map(|s| format!("{} <- {}", s.path, s.from))
        .collect();
    assert_eq!(
        sources,
        [
            "runway_ml.api_key <- configuration file",
            "openai_api_key <- configuration file"
        ],
        "the file's ${{RUNWAYML_API_SECRET}} counts as the file"
    );
}

#[test]
fn environment_variables_alone_configure_the_hosted_backends() {
    let loaded = from_yaml(
        "",
        &env(&[
            ("RUNWAYML_API_SECRET", "rw-1"),
            ("RUNWAYML_BASE_URL", "http://127.0.0.1:9/runway"),
            ("MINIMAX_API_KEY", "mm-2"),
            ("FAL_API_KEY", "fal-legacy-3"),
            ("GOOGLE_API_KEY", "g-4"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/keys/sa.json"),
        ]),
    );
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
    let r = &loaded.settings.registry;
    assert_eq!(
        r.runway
            .as_ref()
            .unwrap()
            .api_key
            .as_ref()
            .unwrap()
            .expose(),
        "rw-1"
    );
    assert_eq!(
        r.runway.as_ref().unwrap().base_url,
        "http://127.0.0.1:9/runway"
    );
    assert_eq!(
        r.minimax
            .as_ref()
            .unwrap()
            .api_key
            .as_ref()
            .unwrap()
            .expose(),
        "mm-2"
    );
    assert_eq!(
        r.fal.as_ref().unwrap().api_key.as_ref().unwrap().expose(),
        "fal-legacy-3"
    );
    assert_eq!(
        loaded.config.google_veo.api_key.as_ref().unwrap().expose(),
        "g-4"
    );
    assert_eq!(
        loaded.config.google_veo.credentials_path.as_deref(),
        Some(Path::new("/keys/sa.json"))
    );
    assert!(r.wan.is_none() && r.hunyuan.is_none());
    assert_eq!(loaded.settings.default_backend, "auto");
    assert_eq!(loaded.settings.preference, Preference::Cheapest);
    let froms: Vec<_> = loaded.secrets.iter().map(|s| s.from.as_str()).collect();
    assert_eq!(
        froms,
        [
            "environment variable RUNWAYML_API_SECRET",
            "environment variable MINIMAX_API_KEY",
            "environment variable FAL_API_KEY",
            "environment variable GOOGLE_API_KEY",
        ]
    );
}

#[test]
fn the_file_wins_over_the_environment_and_ttv_default_backend_wins_over_both() {
    let loaded = from_yaml(
        "default_backend: runway\nfal:\n  api_key: from-file\n",
        &env(&[("FAL_KEY", "from-env"), ("TTV_DEFAULT_BACKEND", "fal")]),
    );
    assert_eq!(
        loaded
            .settings
            .registry
            .fal
            .as_ref()
            .unwrap()
            .api_key
            .as_ref()
            .unwrap()
            .expose(),
        "from-file"
    );
    assert_eq!(loaded.settings.default_backend, "fal");
}

#[test]
fn a_placeholder_in_the_file_gives_way_to_the_environment() {
    let loaded = from_yaml(
        "runway_ml:\n  api_key: YOUR_RUNWAY_API_KEY\n",
        &env(&[("RUNWAYML_API_SECRET", "real")]),
    );
    let runway = loaded.settings.registry.runway.as_ref().unwrap();
    assert_eq!(runway.api_key.as_ref().unwrap().expose(), "real");
    assert_eq!(
        at(&loaded, "runway_ml.api_key")[0].severity,
        Severity::Warning
    );
}

#[test]
fn expansion_gives_numbers_their_type_and_defaults_apply() {
    let loaded = from_yaml(
        "wan2_dir: ${WAN_DIR:-./Wan2.2}\ntotal_gpus: ${GPUS:-2}\nparallel_segments: ${PAR}\n\
         output_dir: ${HOME_DIR}/videos\nruntime_note: price is $$5\n",
        &env(&[("PAR", "2"), ("HOME_DIR", "/srv/me")]),
    );
    let wan = loaded.settings.registry.wan.as_ref().unwrap();
    assert_eq!(
        wan.wan2_dir,
        std::env::current_dir().unwrap().join("Wan2.2")
    );
    assert_eq!((wan.run.total_gpus, wan.run.parallel_segments), (2, 2));
    assert_eq!(loaded.settings.output_dir, Path::new("/srv/me/videos"));
    assert_eq!(errors(&loaded), Vec::<String>::new());
}

#[test]
fn an_unset_variable_in_a_backend_section_stops_only_that_backend() {
    let loaded = from_yaml("runway_ml:\n  api_key: ${MY_RUNWAY_KEY}\n", &env(&[]));
    assert_eq!(errors(&loaded), Vec::<String>::new());
    assert_eq!(
        warnings(&loaded),
        [
            "warning: runway_ml.api_key: environment variable MY_RUNWAY_KEY is not set; set it, \
          or write ${MY_RUNWAY_KEY:-default} to give a default; only commands that use runway stop on it"
        ]
    );
    assert!(loaded.check().is_ok());
    let registry = crate::registry::Registry::new(&loaded.settings.registry);
    let err = registry.get("--backend", "runway").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Config);
    assert!(
        err.to_string().contains("MY_RUNWAY_KEY is not set"),
        "{err}"
    );
    assert!(registry.get("--backend", "animatic").is_ok());

    // The key from the environment makes the file's unset variable harmless.
    let loaded = from_yaml(
        "runway_ml:\n  api_key: ${MY_RUNWAY_KEY}\n",
        &env(&[("RUNWAYML_API_SECRET", "rw-1")]),
    );
    let registry = crate::registry::Registry::new(&loaded.settings.registry);
    assert!(registry.get("--backend", "runway").is_ok());
}

#[test]
fn an_unset_variable_outside_any_backend_is_an_error_naming_the_key_and_the_variable() {
    let loaded = from_yaml("output_dir: ${MY_VIDEOS}\n", &env(&[]));
    assert_eq!(
        errors(&loaded),
        [
            "error: output_dir: environment variable MY_VIDEOS is not set; set it, \
          or write ${MY_VIDEOS:-default} to give a default"
        ]
    );
    assert_eq!(loaded.check().unwrap_err().kind(), crate::ErrorKind::Config);
}

#[test]
fn an_unset_variable_in_a_key_ttv_does_not_use_is_only_a_warning() {
    let loaded = from_yaml("image_size: ${IMAGE_SIZE}\n", &env(&[]));
    assert!(!loaded.has_errors());
    assert_eq!(
        warnings(&loaded),
        [
            "warning: image_size: environment variable IMAGE_SIZE is not set; set it, or write \
          ${IMAGE_SIZE:-default} to give a default (ttv does not use this key)"
        ]
    );
    // The planner's key is optional: without it films are planned without an LLM.
    let loaded = from_yaml("openai_api_key: ${OPENAI_API_KEY}\n", &env(&[]));
    assert!(!loaded.has_errors());
    assert_eq!(
        warnings(&loaded),
        [
            "warning: openai_api_key: environment variable OPENAI_API_KEY is not set; set it, or \
          write ${OPENAI_API_KEY:-default} to give a default (films are planned without an LLM)"
        ]
    );
    assert!(loaded.settings.openai.api_key.is_none());
    // So are the image backends': without one, the film's keyframes are animatic stills.
    let loaded = from_yaml("stability_api_key: ${STABILITY_API_KEY}\n", &env(&[]));
    assert!(!loaded.has_errors());
    assert_eq!(
        warnings(&loaded),
        [
            "warning: stability_api_key: environment variable STABILITY_API_KEY is not set; set \
          it, or write ${STABILITY_API_KEY:-default} to give a default (image backends that need \
          it are unavailable)"
        ]
    );
}

#[test]
fn every_wrong_type_is_reported_with_its_key_path() {
    let loaded = from_yaml(
        "total_gpus: two\nsize: huge\nrunway_ml:\n  model: [gen4]\nrouting:\n  order: [runway, 3]\n\
         budget:\n  per_day_usd: lots\nframe_num: 81\n",
        &env(&[]),
    );
    let mut paths: Vec<_> = loaded.errors().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "budget.per_day_usd",
            "routing.order[1]",
            "runway_ml.model",
            "size",
            "total_gpus"
        ]
    );
    let total = &at(&loaded, "total_gpus")[0].message;
    assert_eq!(total, "\"two\"; expected a whole number, 0 or more");
    let order = &at(&loaded, "routing.order[1]")[0].message;
    assert_eq!(order, "3; expected text");
    let size = &at(&loaded, "size")[0].message;
    assert!(size.contains("1280x720"), "says what is allowed: {size}");
    // The keys that were right still count.
    assert_eq!(loaded.config.frame_num, Some(81));
}

#[test]
fn unknown_keys_warn_with_a_suggestion() {
    let loaded = from_yaml(
        "defualt_backend: fal\nrunway_ml:\n  api_kye: x\nrunway:\n  api_key: y\nzzz: 1\n",
        &env(&[]),
    );
    assert_eq!(errors(&loaded), Vec::<String>::new());
    let w = warnings(&loaded);
    assert!(
        w.contains(
            &"warning: defualt_backend: unknown key, ignored; did you mean default_backend?"
                .to_owned()
        ),
        "{w:?}"
    );
    assert!(
        w.contains(
            &"warning: runway_ml.api_kye: unknown key, ignored; did you mean runway_ml.api_key?"
                .to_owned()
        ),
        "{w:?}"
    );
    assert!(
        w.contains(&"warning: runway: unknown key, ignored; did you mean runway_ml?".to_owned()),
        "{w:?}"
    );
    // One line each: no list of every key.
    assert!(
        w.contains(&"warning: zzz: unknown key, ignored".to_owned()),
        "{w:?}"
    );
}

#[test]
fn the_original_pipelines_documented_examples_load_without_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = from_yaml(&text, &env(&[]));
        assert_eq!(errors(&loaded), Vec::<String>::new(), "{}", path.display());
        for w in warnings(&loaded) {
            assert!(
                w.contains("looks like a placeholder") || w.contains("is not set; set it"),
                "{}: {w}",
                path.display()
            );
        }
        read += 1;
    }
    assert_eq!(read, 9);
    let doc = from_yaml(
        &std::fs::read_to_string(dir.join("fallback_at_top.yaml")).unwrap(),
        &env(&[]),
    );
    assert_eq!(doc.settings.fallback, ["animatic"]);
    let sample = from_yaml(
        &std::fs::read_to_string(dir.join("pipeline_config.yaml.sample")).unwrap(),
        &env(&[]),
    );
    let hy = sample.settings.registry.hunyuan.as_ref().unwrap();
    assert_eq!(
        hy.infer_steps,
        Some(50),
        "sample_steps is read as infer_steps"
    );
}

#[test]
fn values_out_of_range_and_unknown_names_are_errors() {
    let loaded = from_yaml(
        "default_backend: runwya\nframe_num: 80\nt2v_task: t2v-99B\nanimatic:\n  camera: spin\n  fps: 100\n\
         routing:\n  prefer: random\nremote_api_settings:\n  timeout: -1\n  fallback_backend: nope\n\
         budget:\n  per_backend_month_usd:\n    runway: -5\nlimits:\n  backends:\n    fal: { requests_per_second: 0 }\ntotal_gpus: 1\nparallel_segments: 2\n",
        &env(&[]),
    );
    let e = errors(&loaded);
    let expect = [
        "error: default_backend: unknown backend \"runwya\" (did you mean \"runway\"?)",
        "error: frame_num: 80; expected a frame count of the form 4n+1",
        "error: t2v_task: \"t2v-99B\"; expected one of t2v-14B",
        "error: animatic.camera: \"spin\"; expected one of zoom_in",
        "error: animatic.fps: 100; expected 8 to 60",
        "error: routing.prefer: \"random\"; expected cheapest, fastest or order",
        "error: remote_api_settings.timeout: -1; expected a positive number of seconds",
        "error: remote_api_settings.fallback_backend: unknown backend \"nope\"",
        "error: budget.per_backend_month_usd.runway: -5; expected an amount of US dollars",
        "error: limits.backends.fal.requests_per_second: 0 is not a positive rate",
        "error: parallel_segments: 2; expected at most total_gpus (1)",
    ];
    for want in expect {
        assert!(
            e.iter().any(|m| m.starts_with(want)),
            "missing {want:?} in {e:#?}"
        );
    }
    assert_eq!(e.len(), expect.len(), "{e:#?}");
}

#[test]
fn broken_yaml_and_a_missing_named_file_are_errors() {
    let loaded = from_yaml("runway_ml: [unclosed\n", &env(&[]));
    assert!(
        errors(&loaded)[0].starts_with("error: not valid YAML"),
        "{:?}",
        loaded.findings
    );
    let loaded = from_yaml("- just\n- a list\n", &env(&[]));
    assert_eq!(
        errors(&loaded),
        ["error: the file must be a mapping of keys to values, not a list"]
    );
    let loaded = load(Some(Path::new("no/such/ttv.yaml")), &env(&[]));
    assert_eq!(
        errors(&loaded),
        ["error: --config: no/such/ttv.yaml: no such file"]
    );
    let loaded = load(None, &env(&[("TTV_CONFIG", "gone.yaml")]));
    assert_eq!(
        errors(&loaded),
        ["error: TTV_CONFIG: gone.yaml: no such file"]
    );
}

#[test]
fn a_named_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ttv.yaml");
    std::fs::write(
        &path,
        "default_backend: animatic\nanimatic:\n  camera: orbit\n",
    )
    .unwrap();
    let loaded = load(Some(&path), &env(&[]));
    assert_eq!(loaded.source.as_deref(), Some(path.as_path()));
    assert_eq!(loaded.settings.default_backend, "animatic");
    assert!(loaded.settings.registry.animatic.camera.is_some());
}

#[test]
fn secrets_never_show_in_debug_output_serialisation_or_findings() {
    let text = "runway_ml:\n  api_key: rw-SECRET-1\n  model: [x]\nminimax:\n  api_key: 12345678\n\
                openai_api_key: sk-SECRET-2\ngemini_api_key: gm-SECRET-3\n";
    let loaded = from_yaml(text, &env(&[("FAL_KEY", "fal-SECRET-4")]));
    let shown = [
        format!("{loaded:?}"),
        serde_json::to_string(&loaded.config).unwrap(),
        serde_saphyr::to_string(&loaded.config).unwrap(),
        format!("{:?}", loaded.findings),
        format!("{:?}", loaded.settings),
        loaded
            .check()
            .map(|()| String::new())
            .unwrap_or_else(|e| e.to_string()),
    ];
    for out in shown {
        for secret in [
            "rw-SECRET-1",
            "12345678",
            "sk-SECRET-2",
            "gm-SECRET-3",
            "fal-SECRET-4",
        ] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }
    // ... while the backends still get them.
    let minimax = loaded.settings.registry.minimax.as_ref().unwrap();
    assert_eq!(minimax.api_key.as_ref().unwrap().expose(), "12345678");
}

#[test]
fn a_file_that_sets_nothing_is_the_defaults() {
    let loaded = from_yaml("# nothing here\n", &env(&[]));
    assert!(loaded.findings.is_empty());
    assert_eq!(loaded.config, Config::default());
    assert_eq!(loaded.settings.default_backend, "auto");
    assert_eq!(loaded.settings.output_dir, Path::new("."));
}

#[test]
fn paths_in_a_file_are_taken_from_the_files_folder_and_bare_programs_stay() {
    let loaded = super::from_yaml_in(
        "wan2_dir: ./Wan2.1\ni2v_model_dir: models/Wan2.1-I2V-14B-720P\noutput_dir: out\n\
         local: { python: venv/bin/python, torchrun: torchrun, work_dir: ./jobs }\n\
         hunyuan_video: { repo_dir: ../HunyuanVideo }\n\
         ltx_video: { repo_dir: LTX-Video, pipeline_config: ltxv-2b-0.9.8-distilled.yaml, models_dir: /abs/w }\n\
         store: { data_dir: data }\n",
        &env(&[]),
        Path::new("/proj/conf"),
    );
    assert_eq!(errors(&loaded), Vec::<String>::new());
    let s = &loaded.settings;
    let wan = s.registry.wan.as_ref().unwrap();
    assert_eq!(wan.wan2_dir, Path::new("/proj/conf/Wan2.1"));
    assert_eq!(
        wan.i2v_model_dir.as_deref(),
        Some(Path::new("/proj/conf/models/Wan2.1-I2V-14B-720P"))
    );
    assert_eq!(wan.run.python, Path::new("/proj/conf/venv/bin/python"));
    assert_eq!(wan.run.torchrun, Path::new("torchrun"));
    assert_eq!(wan.run.work_dir, Path::new("/proj/conf/jobs"));
    let hy = s.registry.hunyuan.as_ref().unwrap();
    assert_eq!(
        hy.repo_dir.as_deref(),
        Some(Path::new("/proj/conf/../HunyuanVideo"))
    );
    let ltx = s.registry.ltx.as_ref().unwrap();
    assert_eq!(
        ltx.repo_dir.as_deref(),
        Some(Path::new("/proj/conf/LTX-Video"))
    );
    // A bare config name stays a name in the checkout's configs/.
    assert_eq!(
        ltx.pipeline_config,
        Path::new("ltxv-2b-0.9.8-distilled.yaml")
    );
    assert_eq!(ltx.models_dir.as_deref(), Some(Path::new("/abs/w")));
    assert_eq!(s.output_dir, Path::new("/proj/conf/out"));
    assert_eq!(s.data_dir.as_deref(), Some(Path::new("/proj/conf/data")));
    // config check shows what the backends use.
    let shown = loaded.config.to_value();
    assert_eq!(shown["wan2_dir"], "/proj/conf/Wan2.1");
    assert_eq!(shown["local"]["python"], "/proj/conf/venv/bin/python");
}

#[test]
fn a_hunyuan_ckpt_path_naming_the_weights_file_becomes_dit_weight() {
    let dir = tempfile::tempdir().unwrap();
    let ckpts = dir.path().join("HunyuanVideo/ckpts");
    let file = ckpts.join("hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::create_dir_all(ckpts.join("text_encoder")).unwrap();
    std::fs::write(&file, b"").unwrap();
    let loaded = super::from_yaml_in(
        "hunyuan_video:\n  hunyuan_dir: ./HunyuanVideo\n  ckpt_path: ./HunyuanVideo/ckpts/hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt\n",
        &env(&[]),
        dir.path(),
    );
    assert_eq!(errors(&loaded), Vec::<String>::new());
    let hy = loaded.settings.registry.hunyuan.as_ref().unwrap();
    assert_eq!(hy.dit_weight.as_deref(), Some(file.as_path()));
    assert_eq!(hy.model_base.as_deref(), Some(ckpts.as_path()));
    let note = at(&loaded, "hunyuan_video.ckpt_path");
    assert!(note[0].message.contains("used as dit_weight"), "{note:?}");
    // A folder stays the weights folder.
    let folder = super::from_yaml_in(
        "hunyuan_video: { hunyuan_dir: ./HunyuanVideo, ckpt_path: ./HunyuanVideo/ckpts }\n",
        &env(&[]),
        dir.path(),
    );
    let hy = folder.settings.registry.hunyuan.as_ref().unwrap();
    assert_eq!(hy.model_base.as_deref(), Some(ckpts.as_path()));
    assert_eq!(hy.dit_weight, None);
}

#[test]
fn ltx_video_values_out_of_range_are_errors_naming_the_key() {
    let loaded = from_yaml(
        "ltx_video: { repo_dir: /x, num_frames: 120, frame_rate: 60, variant: turbo }\n",
        &env(&[]),
    );
    assert_eq!(
        errors(&loaded),
        [
            "error: ltx_video.variant: \"turbo\"; expected dev or distilled",
            "error: ltx_video.num_frames: 120; expected a frame count of the form 8n+1, such as 121 or 257",
            "error: ltx_video.frame_rate: 60; expected 24, 25 or 30",
        ]
    );
}
