"""A layered (Sugiyama) top-down layout of a dependency graph, computed server-side.

The layout comes from igraph's ``layout_sugiyama`` (C core): layering, crossing
reduction by barycenters, and coordinate assignment. JavaScript layered layouts
(dagre, elkjs) took from 5 to several hundred seconds for 5,000 nodes on the
development machines; igraph takes tens of milliseconds (see bench/dashboard_bench.py).

Coordinates are pixels: a dependent sits above its dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence

NODE_WIDTH = 160
NODE_HEIGHT = 28
H_GAP = 24
V_GAP = 70


def layered(
    node_ids: Sequence[str], edges: Sequence[tuple[str, str]]
) -> dict[str, tuple[int, int]]:
    """Centre positions of ``node_ids``; ``edges`` are (dependent, dependency) pairs.

    Cycles (never registered by well-behaved workers, but not impossible) are
    broken by igraph's feedback arc set before layering."""
    if not node_ids:
        return {}
    import igraph  # imported on first use: a server that never lays out a graph saves ~6 MiB

    index = {node: i for i, node in enumerate(node_ids)}
    pairs = [(index[a], index[b]) for a, b in edges if a in index and b in index and a != b]
    graph = igraph.Graph(n=len(node_ids), edges=pairs, directed=True)
    coords = graph.layout_sugiyama(hgap=1, vgap=1, maxiter=20).coords
    step_x, step_y = NODE_WIDTH + H_GAP, NODE_HEIGHT + V_GAP
    return {
        node: (round(coords[i][0] * step_x), round(coords[i][1] * step_y))
        for i, node in enumerate(node_ids)
    }
