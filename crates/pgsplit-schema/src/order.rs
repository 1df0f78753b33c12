//! Dependency order: a topological sort of DDL items that prefers lower priorities
//! (pg_dump's kind order) among the items that are ready, and breaks cycles by taking
//! the lowest-priority blocked item when nothing is ready.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Sorts `n` nodes given each node's priority and dependencies (indices); returns the
/// order and the nodes that had to be forced out of a cycle.
pub fn sort(priorities: &[u32], deps: &[Vec<usize>]) -> (Vec<usize>, Vec<usize>) {
    let n = priorities.len();
    let mut pending = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (node, list) in deps.iter().enumerate() {
        let mut list = list.clone();
        list.sort_unstable();
        list.dedup();
        for d in list {
            if d != node && d < n {
                pending[node] += 1;
                dependents[d].push(node);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<(u32, usize)>> = (0..n)
        .filter(|i| pending[*i] == 0)
        .map(|i| Reverse((priorities[i], i)))
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut forced = Vec::new();
    while order.len() < n {
        let next = match ready.pop() {
            Some(Reverse((_, i))) => i,
            None => {
                let Some(i) = (0..n)
                    .filter(|i| !done[*i])
                    .min_by_key(|i| (priorities[*i], *i))
                else {
                    break;
                };
                forced.push(i);
                i
            }
        };
        if done[next] {
            continue;
        }
        done[next] = true;
        order.push(next);
        for &d in &dependents[next] {
            pending[d] = pending[d].saturating_sub(1);
            if pending[d] == 0 && !done[d] {
                ready.push(Reverse((priorities[d], d)));
            }
        }
    }
    (order, forced)
}

#[cfg(test)]
mod tests {
    use super::sort;

    #[test]
    fn dependencies_before_priority() {
        // 0 (prio 1) needs 2 (prio 9); 1 (prio 5) is free.
        let (order, forced) = sort(&[1, 5, 9], &[vec![2], vec![], vec![]]);
        assert_eq!(order, vec![1, 2, 0]);
        assert!(forced.is_empty());
    }

    #[test]
    fn cycles_are_broken() {
        let (order, forced) = sort(&[1, 2, 0], &[vec![1], vec![0], vec![]]);
        assert_eq!(order, vec![2, 0, 1]);
        assert_eq!(forced, vec![0]);
    }
}
