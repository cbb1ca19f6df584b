//! Greedy colorings of a sparsity pattern, so that one Jacobian- or Hessian-vector product per
//! color (not per column) recovers every nonzero:
//!
//! - [`columns`]: a distance-2 coloring of the columns (no two columns of one color share a
//!   row), for forward mode: `J S` with `S[j, c] = 1` where column `j` has color `c` holds
//!   `J[i, j]` at `(i, color(j))`;
//! - rows: the same on the transposed pattern, for reverse mode (`Sᵀ J`);
//! - [`star`]: a star coloring of a symmetric pattern (a distance-1 coloring in which every
//!   path on four vertices uses at least three colors; Gebremedhin, Manne and Pothen, "What
//!   color is your Jacobian?", SIAM Review 2005, algorithm 4.1), for Hessians: fewer colors
//!   than a column coloring on most patterns, and each `H[i, j]` is still read directly from
//!   `H S` ([`symmetric_source`]).

use super::matrix::SparsityPattern;

/// A coloring: the color of each vertex (column or row), and the number of colors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Coloring {
    pub(crate) colors: Vec<u32>,
    pub(crate) count: usize,
}

const NONE: u32 = u32::MAX;

/// The smallest color not marked with `stamp` in `forbidden` (which grows as needed).
fn first_free(forbidden: &mut Vec<usize>, stamp: usize) -> u32 {
    let c = forbidden
        .iter()
        .position(|&f| f != stamp)
        .unwrap_or(forbidden.len());
    if c == forbidden.len() {
        forbidden.push(usize::MAX);
    }
    c as u32
}

/// A distance-2 coloring of the columns of `p` (two columns that share a row differ).
pub(crate) fn columns(p: &SparsityPattern) -> Coloring {
    let pt = p.transpose();
    let n = p.ncols();
    let mut color = vec![NONE; n];
    let mut forbidden: Vec<usize> = Vec::new();
    for j in 0..n {
        for &r in pt.row(j) {
            for &j2 in p.row(r) {
                let c = color[j2];
                if c != NONE {
                    forbidden[c as usize] = j;
                }
            }
        }
        color[j] = first_free(&mut forbidden, j);
    }
    Coloring {
        count: forbidden.len(),
        colors: color,
    }
}

/// A distance-2 coloring of the rows of `p` (two rows that share a column differ).
pub(crate) fn rows(p: &SparsityPattern) -> Coloring {
    columns(&p.transpose())
}

/// A star coloring of the graph of the symmetric pattern `p` (vertex `v`'s neighbours are the
/// columns of row `v` other than `v`).
pub(crate) fn star(p: &SparsityPattern) -> Coloring {
    let n = p.nrows();
    let adj = |v: usize| p.row(v).iter().copied().filter(move |&w| w != v);
    let mut color = vec![NONE; n];
    let mut forbidden: Vec<usize> = Vec::new();
    for v in 0..n {
        for w in adj(v) {
            let cw = color[w];
            if cw != NONE {
                forbidden[cw as usize] = v;
            }
            for x in adj(w) {
                let cx = color[x];
                if x == v || cx == NONE {
                    continue;
                }
                if cw == NONE {
                    // v and x would be two vertices of one color next to the uncolored w
                    forbidden[cx as usize] = v;
                } else if adj(x).any(|y| y != w && color[y] == cw) {
                    // v - w - x - y would be a path on four vertices with two colors
                    forbidden[cx as usize] = v;
                }
            }
        }
        color[v] = first_free(&mut forbidden, v);
    }
    Coloring {
        count: forbidden.len(),
        colors: color,
    }
}

/// Where `H[i, j]` is read from `H S` (S the seeds of a symmetric coloring): `(c, r)` means
/// `(H S)[r, c]`, or `None` if neither row `i` nor row `j` has the other as its only neighbour
/// of that color (the coloring is not symmetric-decomposable there).
pub(crate) struct SymmetricSources {
    /// Per entry of the pattern (CSR order): `(color, row)`.
    pub(crate) at: Vec<(u32, usize)>,
}

/// The source of every entry of the symmetric pattern `p` in `H S`, or `None` if the coloring
/// does not allow reading some entry directly.
pub(crate) fn symmetric_source(p: &SparsityPattern, c: &Coloring) -> Option<SymmetricSources> {
    let n = p.nrows();
    let mut count = vec![0u32; c.count];
    let mut at = Vec::with_capacity(p.nnz());
    // how many neighbours of a row have each color
    let counts_of = |i: usize, count: &mut Vec<u32>| {
        for &j in p.row(i) {
            if j != i {
                count[c.colors[j] as usize] += 1;
            }
        }
    };
    let mut other = vec![0u32; c.count];
    for i in 0..n {
        counts_of(i, &mut count);
        if p.row(i)
            .iter()
            .any(|&j| j != i && c.colors[j] == c.colors[i])
        {
            return None;
        }
        for &j in p.row(i) {
            let cj = c.colors[j];
            if j == i || count[cj as usize] == 1 {
                at.push((cj, i));
                continue;
            }
            // read it from row j instead
            counts_of(j, &mut other);
            let ok = other[c.colors[i] as usize] == 1;
            for &k in p.row(j) {
                if k != j {
                    other[c.colors[k] as usize] = 0;
                }
            }
            if !ok {
                return None;
            }
            at.push((c.colors[i], j));
        }
        for &j in p.row(i) {
            if j != i {
                count[c.colors[j] as usize] = 0;
            }
        }
    }
    Some(SymmetricSources { at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banded(n: usize, w: usize) -> SparsityPattern {
        let mut e = Vec::new();
        for i in 0..n {
            for j in i.saturating_sub(w)..(i + w + 1).min(n) {
                e.push((i, j));
            }
        }
        SparsityPattern::from_entries(n, n, &e).unwrap()
    }

    fn valid_columns(p: &SparsityPattern, c: &Coloring) -> bool {
        (0..p.nrows()).all(|r| {
            let mut seen = std::collections::HashSet::new();
            p.row(r).iter().all(|&j| seen.insert(c.colors[j]))
        })
    }

    #[test]
    fn banded_patterns_need_their_bandwidth_in_colors() {
        let p = banded(50, 1);
        let c = columns(&p);
        assert_eq!(c.count, 3);
        assert!(valid_columns(&p, &c));
        let s = star(&p);
        assert_eq!(s.count, 3);
        assert!(symmetric_source(&p, &s).is_some());
        let p2 = banded(40, 2);
        assert_eq!(columns(&p2).count, 5);
        assert!(symmetric_source(&p2, &star(&p2)).is_some());
    }

    #[test]
    fn an_arrow_pattern_star_colors_with_two_colors() {
        // the dense first row and column, and the diagonal: a column coloring needs n colors
        let n = 30;
        let mut e: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
        for i in 1..n {
            e.push((0, i));
            e.push((i, 0));
        }
        let p = SparsityPattern::from_entries(n, n, &e).unwrap();
        assert_eq!(columns(&p).count, n);
        let s = star(&p);
        assert_eq!(s.count, 2);
        assert!(symmetric_source(&p, &s).is_some());
    }

    #[test]
    fn random_symmetric_patterns_are_decomposable() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for trial in 0..40 {
            let n = 5 + trial;
            let mut e: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
            for _ in 0..(2 * n) {
                let (i, j) = (next() % n, next() % n);
                e.push((i, j));
                e.push((j, i));
            }
            let p = SparsityPattern::from_entries(n, n, &e).unwrap();
            let s = star(&p);
            assert!(symmetric_source(&p, &s).is_some(), "trial {trial}");
            let r = rows(&p);
            assert!(valid_columns(&p.transpose(), &r));
        }
    }
}
