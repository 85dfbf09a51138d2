//! Orchestration: one SLS on the controller drives a rollout across host
//! groups, as Salt's orchestrate runner does (`salt-run state.orchestrate`).
//!
//! The orchestration file is rendered and compiled by the state compiler
//! (Jinja, YAML, requisites, `order`, `failhard`) with its own registry of
//! step functions ([`registry`]): `salt.state`, `salt.function` and the
//! `test.*` states. Each compiled chunk becomes a typed [`Step`] here
//! ([`step`]); whether a step runs is decided from the results of the steps
//! it requires ([`gate`]); [`execute`] walks the steps in order and hands
//! each host-side step to a [`StepRunner`], which the CLI implements with
//! the same targeting, batching, verification and job recording as a
//! command-line run. This module never connects to a host itself.

// CompileError, the state compiler's error, is large; it is returned once
// per orchestration, never in a loop (as in `state`).
#![allow(clippy::result_large_err)]

pub mod gate;
pub mod step;

mod execute;

pub use execute::{execute, Finished, Resume, StepRequest, StepRun, StepRunner};
pub use step::{Action, Step, StepError, TestOutcome};

use crate::state::MemoryRegistry;

/// The id the orchestration reports its results under, as Salt reports
/// them under `MASTER_master`.
pub const MASTER_ID: &str = "halite_master";

/// The step functions an orchestration SLS may use, with their arguments.
/// `parallel` is accepted by all of them (see [`Step::parallel`]).
pub fn registry() -> MemoryRegistry {
    let state = [
        "tgt",
        "tgt_type",
        "sls",
        "highstate",
        "pillar",
        "test",
        "batch",
        "fail_minions",
        "verify",
        "max_fail",
        "expect_minions",
        "parallel",
    ];
    let function = [
        "tgt",
        "tgt_type",
        "arg",
        "kwarg",
        "batch",
        "fail_minions",
        "verify",
        "max_fail",
        "expect_minions",
        "parallel",
    ];
    let mut r = MemoryRegistry::new()
        .with("salt", "state", &state)
        .with("salt", "function", &function);
    for f in TestOutcome::NAMES {
        r = r.with("test", f, &["comment", "parallel"]);
    }
    r
}

/// An orchestration that cannot be rendered or compiled.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no orchestration `{name}`: neither {path}.sls nor {path}/init.sls exists in {root}", path = name.replace('.', "/"))]
    Missing { name: String, root: String },
    #[error("orchestration pillar: {0}")]
    Pillar(#[from] crate::pillar::PillarError),
    #[error(transparent)]
    Compile(#[from] crate::state::CompileError),
    #[error(transparent)]
    Step(#[from] StepError),
}

/// Render and compile orchestration `name` (`orch.deploy` is
/// `states/orch/deploy.sls`) on the controller, as [`MASTER_ID`], with the
/// pillar the pillar tree gives that id, `pillar` (the command's
/// `pillar=`) merged over it.
pub fn load(
    project: &crate::engine::Project,
    name: &str,
    pillar: Option<serde_json::Value>,
) -> Result<Vec<Step>, LoadError> {
    use crate::state::{CompileError, SlsSource};
    let grains = serde_json::json!({"id": MASTER_ID});
    let pillar = crate::pillar::compile(
        &project.pillar,
        MASTER_ID,
        &grains,
        &project.groups,
        pillar,
        &project.secrets,
    )?;
    let renderer = crate::render::Renderer::new(&project.states, MASTER_ID, grains, pillar)
        .with_secrets(project.secrets.clone());
    if crate::engine::sls_file(project, name).is_none() {
        return Err(LoadError::Missing {
            name: name.to_string(),
            root: project.states.display().to_string(),
        });
    }
    let mut loader = |sls: &str| -> Result<SlsSource, CompileError> {
        let load = |message: String| CompileError::Load {
            sls: sls.to_string(),
            message,
        };
        let file = crate::engine::sls_file(project, sls)
            .ok_or_else(|| load(format!("no such SLS in {}", project.states.display())))?;
        let data = renderer
            .render_sls(&file, sls)
            .map_err(|e| load(e.to_string()))?;
        Ok(SlsSource { file, data })
    };
    let compiled = crate::state::compile(&[name.to_string()], &mut loader, &registry())?;
    Ok(Step::from_chunks(compiled.chunks)?)
}
