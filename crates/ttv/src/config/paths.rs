//! Every path in the configuration made absolute, once, as it is read.
//!
//! A path written in a file is taken from that file's folder (as Cargo and Compose do), so a
//! configuration means the same wherever ttv is started; a path from the environment is
//! taken from the current folder. The model scripts run with their checkout as the working
//! folder, so a relative path handed on as written would name the wrong place. Programs
//! named without a folder (`python3`) stay as they are, for the `PATH` lookup.
//!
//! Placed here rather than in each backend so `ttv config check` shows the paths the
//! backends will use.

use std::path::{Path, PathBuf};

use super::schema::Config;
use crate::services::local::{absolute_in, program_in};

/// Makes every path `config` holds absolute against `base` (the file's folder).
pub(super) fn make_absolute(config: &mut Config, base: &Path) {
    let dir = |slot: &mut Option<PathBuf>| {
        if let Some(p) = slot.as_mut() {
            *p = absolute_in(base, p);
        }
    };
    let program = |slot: &mut Option<PathBuf>| {
        if let Some(p) = slot.as_mut() {
            *p = program_in(base, p);
        }
    };
    for slot in [
        &mut config.output_dir,
        &mut config.wan2_dir,
        &mut config.t2v_model_dir,
        &mut config.i2v_model_dir,
        &mut config.flf2v_model_dir,
        &mut config.google_veo.credentials_path,
        &mut config.local.work_dir,
        &mut config.store.data_dir,
    ] {
        dir(slot);
    }
    let hy = &mut config.hunyuan_video;
    for slot in [
        &mut hy.repo_dir,
        &mut hy.model_base,
        &mut hy.dit_weight,
        &mut hy.i2v_repo_dir,
        &mut hy.i2v_model_base,
        &mut hy.i2v_dit_weight,
        &mut hy.diffusers_model,
    ] {
        dir(slot);
    }
    let ltx = &mut config.ltx_video;
    for slot in [
        &mut ltx.repo_dir,
        &mut ltx.models_dir,
        &mut ltx.text_encoder,
        &mut ltx.diffusers_model,
        &mut ltx.diffusers_upsampler,
    ] {
        dir(slot);
    }
    // A bare file name is a config of the checkout's `configs/` folder.
    if let Some(p) = ltx.pipeline_config.as_mut()
        && p.components().count() > 1
    {
        *p = absolute_in(base, p);
    }
    for slot in [
        &mut config.local.python,
        &mut config.local.torchrun,
        &mut config.local.nvidia_smi,
    ] {
        program(slot);
    }
}

/// The folder a configuration file's relative paths are taken from: the file's own (its real
/// location, so `--config ../proj/ttv.yaml` gives `/…/proj`), or the current folder when
/// there is no file.
pub(super) fn base_of(file: Option<&Path>) -> PathBuf {
    let parent = file.and_then(Path::parent).unwrap_or(Path::new(""));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::fs::canonicalize(parent).unwrap_or_else(|_| crate::services::local::absolute(parent))
}
