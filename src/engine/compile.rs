//! Phase 1 of a state run, on the controller: the host's pillar, the top
//! file or the SLS named, rendering (templates may call execution functions
//! on the host through the [`RemoteCall`] the caller gives), compiling and building every state function.
//! Any error here fails the host before anything runs on it. Also
//! `state.show_*`, which stop before the building: like Salt's, they show
//! the compiled chunks whatever their arguments' values (a `backup: .bak`
//! or a missing `salt://` source fails `state.apply`, not `show_sls`).

use std::sync::Arc;

use serde_json::{json, Map};

use super::{Action, Outcome, Project, Single, StateCall, Target};
use crate::modules::{self, StateFunction};
use crate::render::{RemoteCall, Renderer};
use crate::state::{Chunk, Purpose, SlsSource};
use crate::Value;

/// Compiled chunks with their built state functions, in execution order.
pub type Built = Vec<(Chunk, Box<dyn StateFunction>)>;

/// The host's pillar for `call`: `known` (compiled for targeting) when the
/// call has no `pillar=` override, else compiled now with the override.
fn host_pillar(
    project: &Project,
    host_id: &str,
    grains: &Value,
    known: Option<Value>,
    call: &StateCall,
) -> Result<Value, CompileFailure> {
    match known {
        Some(p) if call.pillar.is_none() => Ok(p),
        _ => crate::pillar::compile(
            &project.pillar,
            host_id,
            grains,
            &project.groups,
            call.pillar.clone(),
            &project.secrets,
        )
        .map_err(|e| CompileFailure {
            duplicate: e.is_duplicate_key(),
            message: format!("pillar: {e}"),
            more: Vec::new(),
        }),
    }
}

/// Why a host's state tree could not be compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileFailure {
    pub message: String,
    /// A key or a state ID declared twice (in an SLS, the top file or the
    /// pillar): the tree itself is wrong, so the run starts no more hosts
    /// (see `fleet`) and exits 2 when nothing ran.
    pub duplicate: bool,
    /// More errors of the same phase, each its own line of the result
    /// (every state whose arguments are wrong, not just the first).
    pub more: Vec<String>,
}

impl CompileFailure {
    fn plain(message: String) -> Self {
        CompileFailure {
            message,
            duplicate: false,
            more: Vec::new(),
        }
    }

    fn render(e: crate::render::RenderError) -> Self {
        CompileFailure {
            duplicate: e.is_duplicate_key(),
            message: e.to_string(),
            more: Vec::new(),
        }
    }
}

impl std::fmt::Display for CompileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        self.more.iter().try_for_each(|m| write!(f, "\n{m}"))
    }
}

/// Compile the state tree for this host (controller only, no I/O on the
/// host). `pillar`: the host's pillar when already compiled (targeting).
/// `remote`: runs `salt['cmd.run'](...)` and the other execution functions
/// templates call on the host (without it they are render errors).
/// An error never quotes a value the `gpg` / `age` renderers decrypted (a
/// state argument's message may quote the argument).
pub fn compile(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    call: &StateCall,
    remote: Option<Arc<dyn RemoteCall>>,
) -> Result<Built, CompileFailure> {
    compile_chunks(project, host_id, grains, pillar, call, remote, Purpose::Run)
        .and_then(|(chunks, renderer)| build(project, &renderer, chunks))
        .map_err(|e| redacted(project, e))
}

/// An error never quotes a value the `gpg` / `age` renderers decrypted.
fn redacted(project: &Project, e: CompileFailure) -> CompileFailure {
    let redact = |m: &str| project.secrets.redact_str(m).into_owned();
    CompileFailure {
        message: redact(&e.message),
        more: e.more.iter().map(|m| redact(m)).collect(),
        ..e
    }
}

/// The host's compiled chunks (rendered, included, extended, ordered), and
/// the renderer that made them (building renders source templates with it).
fn compile_chunks(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    call: &StateCall,
    remote: Option<Arc<dyn RemoteCall>>,
    purpose: Purpose,
) -> Result<(Vec<Chunk>, Renderer), CompileFailure> {
    let pillar = host_pillar(project, host_id, grains, pillar, call)?;
    let mut renderer = Renderer::new(&project.states, host_id, grains.clone(), pillar.clone())
        .with_secrets(project.secrets.clone());
    if let Some(remote) = remote {
        renderer = renderer.with_remote(remote);
    }
    let names = sls_names(project, host_id, grains, &pillar, &renderer, &call.target)?;
    // Set when an SLS repeats a key: the loader's error is only text.
    let duplicate_key = std::cell::Cell::new(false);
    let mut loader = |sls: &str| -> Result<SlsSource, crate::state::CompileError> {
        if let Target::Single(single) = &call.target {
            return Ok(single.source());
        }
        let file = sls_file(project, sls).ok_or_else(|| crate::state::CompileError::Load {
            sls: sls.to_string(),
            message: format!(
                "no such SLS: neither {0}.sls nor {0}/init.sls exists in {1}",
                sls.replace('.', "/"),
                project.states.display()
            ),
        })?;
        let data = renderer.render_sls(&file, sls).map_err(|e| {
            duplicate_key.set(duplicate_key.get() || e.is_duplicate_key());
            crate::state::CompileError::Load {
                sls: sls.to_string(),
                message: e.to_string(),
            }
        })?;
        Ok(SlsSource { file, data })
    };
    let compiled = crate::state::compile_as(&names, &mut loader, &modules::registry(), purpose)
        .map_err(|e| CompileFailure {
            duplicate: duplicate_key.get() || e.is_duplicate(),
            message: e.to_string(),
            more: Vec::new(),
        })?;
    Ok((compiled.chunks, renderer))
}

/// Build every chunk's state function: its arguments' values checked, its
/// `salt://` sources read and templates rendered. Any error (all of them
/// are reported) fails the host
/// before anything runs on it (`state.show_*` stop before this, as Salt's
/// show functions do not look at argument values either).
fn build(
    project: &Project,
    renderer: &Renderer,
    chunks: Vec<Chunk>,
) -> Result<Built, CompileFailure> {
    let ctx = modules::BuildCtx {
        states_root: &project.states,
        renderer: Some(renderer),
    };
    // file.accumulated's text reaches the file states it is ordered
    // before as their arguments; the chunks keep what was written.
    let fed = modules::file::feed_accumulators(&chunks).map_err(CompileFailure::plain)?;
    let mut built = Vec::with_capacity(chunks.len());
    let mut failed = Vec::new();
    for (chunk, fed) in chunks.into_iter().zip(fed) {
        match function_of(&chunk).and_then(|def| {
            (def.build)(fed.as_ref().unwrap_or(&chunk), &ctx).map_err(CompileFailure::plain)
        }) {
            Ok(f) => built.push((chunk, f)),
            Err(e) => failed.push(e.message),
        }
    }
    // Every state's error at once, so one round of fixes is enough.
    let mut failed = failed.into_iter();
    match failed.next() {
        None => Ok(tell_required(built)),
        Some(first) => Err(CompileFailure {
            more: failed.collect(),
            ..CompileFailure::plain(first)
        }),
    }
}

fn function_of(chunk: &Chunk) -> Result<&'static modules::FnDef, CompileFailure> {
    modules::lookup(&chunk.module, &chunk.function).ok_or_else(|| {
        CompileFailure::plain(format!("{}: no such state function", chunk.describe()))
    })
}

/// Each state is told the states it requires ([`StateFunction::required`]).
fn tell_required(built: Built) -> Built {
    let managed: Vec<Vec<modules::Managed>> = built.iter().map(|(_, f)| f.managed()).collect();
    let (chunks, mut functions): (Vec<Chunk>, Vec<Box<dyn StateFunction>>) =
        built.into_iter().unzip();
    for (chunk, f) in chunks.iter().zip(functions.iter_mut()) {
        let required: Vec<modules::Required> = chunk
            .requisites
            .iter()
            .filter(|(kind, _)| *kind == crate::state::Kind::Require)
            .filter_map(|(_, j)| {
                Some(modules::Required {
                    chunk: chunks.get(*j)?,
                    managed: managed.get(*j)?,
                })
            })
            .collect();
        if !required.is_empty() {
            f.required(&required);
        }
    }
    chunks.into_iter().zip(functions).collect()
}

/// The SLS names to compile: those named, the top file's for this host,
/// or `state.single`'s own.
fn sls_names(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: &Value,
    renderer: &Renderer,
    target: &Target,
) -> Result<Vec<String>, CompileFailure> {
    Ok(match target {
        Target::Sls(names) => names.clone(),
        Target::Single(_) => vec![Single::SLS.to_string()],
        Target::Highstate => {
            if !project.states.join("top.sls").is_file() {
                return Err(CompileFailure::plain(format!(
                    "no top file: {} does not exist",
                    project.states.join("top.sls").display()
                )));
            }
            let top = renderer
                .render_sls("top.sls", "top")
                .map_err(CompileFailure::render)?;
            let names = crate::state::top_sls(&top, host_id, grains, pillar, &project.groups)
                .map_err(|e| CompileFailure::plain(e.to_string()))?;
            if names.is_empty() {
                return Err(CompileFailure::plain(format!(
                    "no state in top.sls matches {host_id}"
                )));
            }
            names
        }
    })
}

/// `state.show_top` / `state.show_sls` / `state.show_highstate`: compile
/// only (templates calling execution functions ask the host through
/// `remote`, as Salt renders on the minion). `pillar` as for [`compile`].
pub fn show(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    call: &StateCall,
    remote: Option<Arc<dyn RemoteCall>>,
) -> Outcome {
    if call.action == Action::ShowTop {
        let pillar = match host_pillar(project, host_id, grains, pillar, call) {
            Ok(p) => p,
            Err(e) => return Outcome::not_compiled(e),
        };
        let renderer = Renderer::new(&project.states, host_id, grains.clone(), pillar.clone())
            .with_secrets(project.secrets.clone());
        let names = renderer
            .render_sls("top.sls", "top")
            .map_err(CompileFailure::render)
            .and_then(|top| {
                crate::state::top_sls(&top, host_id, grains, &pillar, &project.groups)
                    .map_err(|e| CompileFailure::plain(e.to_string()))
            });
        return match names {
            Ok(n) => Outcome {
                success: true,
                ret: json!({"base": n}),
                drift: None,
                ledger: None,
                duplicate: false,
            },
            Err(e) => Outcome::not_compiled(e),
        };
    }
    let chunks = compile_chunks(
        project,
        host_id,
        grains,
        pillar,
        call,
        remote,
        Purpose::Show,
    )
    .and_then(|(chunks, _)| {
        chunks.iter().try_for_each(|c| function_of(c).map(|_| ()))?;
        Ok(chunks)
    })
    .map_err(|e| redacted(project, e));
    match chunks {
        Err(e) => Outcome::not_compiled(e),
        Ok(built) => {
            let mut ret = Map::new();
            for (i, c) in built.iter().enumerate() {
                let reqs: Vec<Value> = c
                    .requisites
                    .iter()
                    .map(|(k, j)| json!({format!("{k:?}").to_lowercase(): built[*j].id}))
                    .collect();
                ret.insert(
                    format!("{}_|-{}_|-{}_|-{}", c.module, c.id, c.name, c.function),
                    json!({
                        "__id__": c.id, "__sls__": c.sls, "__run_num__": i, "name": c.name,
                        "function": format!("{}.{}", c.module, c.function),
                        "args": c.args, "globals": c.globals.shown(), "requisites": reqs,
                    }),
                );
            }
            Outcome {
                success: true,
                ret: Value::Object(ret),
                drift: None,
                ledger: None,
                duplicate: false,
            }
        }
    }
}

/// `apache.conf` -> `apache/conf.sls` or `apache/conf/init.sls`, relative to states/.
pub(crate) fn sls_file(project: &Project, sls: &str) -> Option<String> {
    if sls.is_empty() || sls.split('.').any(|p| p.is_empty() || p == "..") {
        return None;
    }
    let base = sls.replace('.', "/");
    [format!("{base}.sls"), format!("{base}/init.sls")]
        .into_iter()
        .find(|f| project.states.join(f).is_file())
}
