//! Execution order: `order:` and definition order, with requisites pulling
//! what a state needs in front of it.
//!
//! Each chunk gets a sort key: numbered states (`order: N`, `first` = 0)
//! first, by number; then unnumbered ones in definition order (Salt's
//! default `state_auto_order`); then negative orders (counted from the end);
//! then `order: last`. Chunks are then emitted in key order, each preceded
//! by whatever it depends on that has not run yet (recursively, again in key
//! order). That is how Salt's runtime behaves (`call_chunk` runs missing
//! requisites first), so a requisite always wins over `order:`.
//!
//! Deviations from Salt, on purpose: Salt's auto-order numbers collide with
//! explicit `order: N` values, so `order: 1` does not reliably come first
//! although its documentation says so; here it does. Equal explicit orders
//! keep definition order instead of Salt's lexicographic tie-break.

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{Chunk, CompileError, Kind, Order};

/// Sort key: (group, number within the group, definition index).
fn key(chunk: &Chunk, index: usize) -> (u8, i64, usize) {
    match chunk.order {
        Order::Number(n) => (0, n, index),
        Order::Auto => (1, 0, index),
        Order::FromEnd(n) => (2, n, index),
        Order::Last => (3, 0, index),
    }
}

/// Reorders `chunks` (given in definition order, requisites as indices into
/// that order) for execution, and renumbers the requisites.
pub(crate) fn order(chunks: Vec<Chunk>) -> Result<Vec<Chunk>, CompileError> {
    let n = chunks.len();
    // Edge a -> b: a runs before b.
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(n, n);
    for i in 0..n {
        graph.add_node(i);
    }
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, chunk) in chunks.iter().enumerate() {
        for &(kind, t) in &chunk.requisites {
            if !kind.orders() {
                continue;
            }
            // The state with `prereq` runs before its target.
            let (first, then) = if kind == Kind::Prereq { (i, t) } else { (t, i) };
            if !before[then].contains(&first) {
                before[then].push(first);
                graph.add_edge(NodeIndex::new(first), NodeIndex::new(then), ());
            }
        }
    }
    check_cycles(&graph, &chunks)?;

    for list in &mut before {
        list.sort_by_key(|&p| key(&chunks[p], p));
    }
    let mut by_key: Vec<usize> = (0..n).collect();
    by_key.sort_by_key(|&i| key(&chunks[i], i));

    let mut done = vec![false; n];
    let mut sequence = Vec::with_capacity(n);
    for &i in &by_key {
        emit(i, &before, &mut done, &mut sequence);
    }

    let mut position = vec![0; n];
    for (pos, &old) in sequence.iter().enumerate() {
        position[old] = pos;
    }
    let mut slots: Vec<Option<Chunk>> = chunks.into_iter().map(Some).collect();
    Ok(sequence
        .iter()
        .map(|&old| {
            let mut chunk = slots[old].take().expect("each chunk emitted once");
            for req in &mut chunk.requisites {
                req.1 = position[req.1];
            }
            chunk
        })
        .collect())
}

/// Depth first with an explicit stack: long requisite chains must not
/// overflow the thread's stack.
fn emit(start: usize, before: &[Vec<usize>], done: &mut [bool], sequence: &mut Vec<usize>) {
    let mut stack = vec![(start, 0usize)];
    while let Some((node, next)) = stack.pop() {
        if done[node] {
            continue;
        }
        match before[node].get(next) {
            Some(&dep) => {
                stack.push((node, next + 1));
                if !done[dep] {
                    stack.push((dep, 0));
                }
            }
            None => {
                done[node] = true;
                sequence.push(node);
            }
        }
    }
}

/// Rejects requisite cycles, naming the states of one cycle in the order
/// they would have to run.
fn check_cycles(graph: &DiGraph<usize, ()>, chunks: &[Chunk]) -> Result<(), CompileError> {
    for scc in tarjan_scc(graph) {
        let start = *scc.iter().min().expect("non-empty component");
        let looped = scc.len() > 1 || graph.contains_edge(start, start);
        if !looped {
            continue;
        }
        let path = cycle_path(graph, &scc, start);
        let mut states: Vec<String> = path.iter().map(|n| chunks[graph[*n]].describe()).collect();
        states.push(chunks[graph[start]].describe());
        return Err(CompileError::Cycle { states });
    }
    Ok(())
}

/// A shortest path start -> ... -> start inside one strongly connected
/// component (breadth first), without the closing `start`.
fn cycle_path(graph: &DiGraph<usize, ()>, scc: &[NodeIndex], start: NodeIndex) -> Vec<NodeIndex> {
    let mut parent: std::collections::HashMap<NodeIndex, NodeIndex> = Default::default();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.neighbors(node) {
            if next == start {
                let mut path = vec![node];
                let mut at = node;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if scc.contains(&next) && !parent.contains_key(&next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    scc.to_vec()
}
