//! The second phase of a run: which hosts the target names. Grain-based
//! expressions need every host's grains (cached, or gathered now over a
//! connection the run then reuses); pillar expressions get a pillar
//! compiled only for the hosts the other matchers leave undecided (the
//! three-valued [`Target::decide`](crate::target::Target::decide)). Hosts
//! whose grains or pillar cannot be read are reported, never dropped.

use std::collections::HashMap;

use super::Prepared;
use crate::fleet::{self, GrainSource, HostResult};
use crate::inventory::Host;
use crate::output;
use crate::target::MatchCtx;
use crate::transport::Connection;
use crate::Value;

/// The hosts a run starts, and what targeting learnt on the way.
pub struct Selection {
    /// Matched hosts, in inventory order.
    pub hosts: Vec<Host>,
    /// Grains known from targeting.
    pub grains: HashMap<String, Value>,
    /// Connections opened for targeting, for matched hosts only.
    pub conns: HashMap<String, Connection>,
    /// Pillars compiled for targeting, for matched hosts only: each is
    /// handed to its own host's run and nowhere else.
    pub pillar: HashMap<String, Value>,
    /// Hosts whose grains or pillar could not be read: whether they match
    /// is not known.
    pub failed: Vec<HostResult>,
}

/// Pick the hosts `p.target` names. `Err` says why nothing runs (no host
/// matched, a pillar declaring a key twice), after saying it.
pub async fn select(p: &Prepared, source: &GrainSource) -> Result<Selection, String> {
    let all: Vec<Host> = p.inventory.hosts.values().cloned().collect();
    let mut gathered = if p.target.needs_grains() {
        fleet::gather_for_targeting(&all, source, &p.connect, p.settings.forks).await
    } else {
        fleet::Gathered {
            grains: Default::default(),
            conns: Default::default(),
            failed: Vec::new(),
        }
    };
    let known: Vec<&Host> = all
        .iter()
        .filter(|h| !p.target.needs_grains() || gathered.grains.contains_key(&h.id))
        .collect();
    let mut pillars = pillars_of_undecided(p, &known, &gathered.grains).await;
    if let Err(why) = refuse_duplicates(&pillars) {
        close_all(gathered.conns.drain().map(|(_, c)| c)).await;
        return Err(why);
    }
    let hosts: Vec<Host> = known
        .into_iter()
        .filter(|h| {
            let ctx = ctx(h, &gathered.grains);
            match pillars.pillar.get(&h.id) {
                Some(pillar) => p.target.matches(&ctx.with_pillar(pillar)),
                None => p.target.matches(&ctx),
            }
        })
        .cloned()
        .collect();
    let matched = |id: &String| hosts.iter().any(|h| &h.id == id);
    // Pillars of hosts that did not match are dropped now; a host whose
    // pillar failed is reported like one whose grains failed.
    pillars.pillar.retain(|id, _| matched(id));
    gathered.failed.append(&mut pillars.failed);
    // Connections opened for hosts that did not match are closed now.
    let (conns, unmatched): (HashMap<_, _>, HashMap<_, _>) =
        gathered.conns.drain().partition(|(id, _)| matched(id));
    close_all(unmatched.into_values()).await;
    if hosts.is_empty() && gathered.failed.is_empty() {
        let why = format!(
            "no host in {} matched the {} target `{}`",
            p.settings.inventory.display(),
            p.spec.kind.name(),
            p.spec.expr
        );
        output::error(&why);
        return Err(why);
    }
    Ok(Selection {
        hosts,
        grains: gathered.grains,
        conns,
        pillar: pillars.pillar,
        failed: gathered.failed,
    })
}

fn ctx<'a>(h: &'a Host, grains: &'a HashMap<String, Value>) -> MatchCtx<'a> {
    MatchCtx::new(&h.id, grains.get(&h.id).unwrap_or(&Value::Null))
}

/// Pillar targeting: only the hosts the other matchers leave undecided get
/// their pillar compiled (on the controller, from their own grains).
async fn pillars_of_undecided(
    p: &Prepared,
    known: &[&Host],
    grains: &HashMap<String, Value>,
) -> fleet::Pillars {
    let undecided: Vec<(String, Value)> = known
        .iter()
        .map(|h| ctx(h, grains))
        .filter(|c| p.target.decide(c).is_none())
        .map(|c| (c.id.to_string(), c.grains.clone()))
        .collect();
    if undecided.is_empty() {
        return fleet::Pillars::default();
    }
    fleet::pillar_for_targeting(undecided, p.project.clone()).await
}

/// A pillar that declares a key twice is bad input, whichever host reads
/// it: nothing runs anywhere.
fn refuse_duplicates(pillars: &fleet::Pillars) -> Result<(), String> {
    let refused: Vec<&HostResult> = pillars.failed.iter().filter(|r| r.duplicate).collect();
    if refused.is_empty() {
        return Ok(());
    }
    for r in refused {
        output::error(&format!(
            "{}: {}",
            r.id,
            r.error.as_deref().unwrap_or_default()
        ));
    }
    let why = "nothing ran: the pillar declares a key twice".to_string();
    output::error(&why);
    Err(why)
}

async fn close_all(conns: impl Iterator<Item = Connection>) {
    for c in conns {
        c.close().await;
    }
}
