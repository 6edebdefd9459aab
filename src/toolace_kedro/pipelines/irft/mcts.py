"""iTool's step-level Monte Carlo tree search over the answer of a mined sample.

* **Node**: a prefix of the assistant answer (the first assistant turn of the sample, given its
  dialog context). The root is the empty answer.
* **Expansion**: ``k`` continuations of the node are sampled (``decoding.StepSampler``: high
  temperature, ≤ ``max_new_tokens`` tokens, then a short simulation that completes the answer).
  A continuation is cut into **steps** at the separators (``. ``, ``, ``, ``=``, ``(``): a child's
  step is its first ``fragments_per_step`` fragments (iTool: two); a child at depth
  ``max_depth`` (iTool: 3) takes the rest of the continuation as one node. Steps end on token
  boundaries (the token that completes the separator is part of the step), so a child's tokens
  are exactly its parent's plus its step, and the cached prefix stays valid. Identical steps
  merge into one child.
* **Prior** of a child: ``exp(mean token log-probability)`` of its step under the policy.
* **Evaluation**: the completed answer of each continuation (the rollout) is rewarded against the
  ground truth (``reward.py``); the child starts with that value and every ancestor is updated.
* **Selection** (PUCT as in iTool): from the root, the child maximising
  ``W/(n+1) + c·P·sqrt(ln N / (n+1))`` (``W``: summed value, ``n``: visits of the child, ``N``:
  visits of the parent, ``P``: prior, ``c`` default 1) until a leaf; a terminal leaf (a complete
  answer) is re-evaluated and backed up again instead of expanded.
* ``n_iterations`` selections per sample; several samples search in lockstep so their
  expansions share one decoding batch.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm.auto import tqdm

from toolace_kedro.pipelines.irft.config import SearchParams
from toolace_kedro.pipelines.irft.decoding import Rollout, StepSampler

__all__ = ["Node", "StepSearch", "run_searches", "step_length"]

logger = logging.getLogger(__name__)


def step_length(texts: list[str], separators: list[str], fragments: int) -> int:
    """Tokens in the first step of a continuation. ``texts[i]`` is the text of its first
    ``i + 1`` tokens; the step ends with the token that completes the ``fragments``-th separator
    occurrence (non-overlapping, leftmost first), or spans all tokens when there are fewer."""
    if not texts:
        return 0
    full, ends, pos = texts[-1], [], 0
    while pos < len(full) and len(ends) < fragments:
        hit = next((sep for sep in separators if sep and full.startswith(sep, pos)), None)
        if hit:
            pos += len(hit)
            ends.append(pos)
        else:
            pos += 1
    if len(ends) < fragments:
        return len(texts)
    return next(i + 1 for i, text in enumerate(texts) if len(text) >= ends[-1])


@dataclass
class Node:
    tokens: tuple[int, ...]  # the answer prefix
    depth: int
    parent: int | None
    prior: float = 1.0
    terminal: bool = False
    reward: float | None = None  # of the complete answer, for terminal nodes
    children: list[int] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    rollouts: list[int] = field(default_factory=list)  # rollouts through this node

    @property
    def value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0


class StepSearch:
    """The search tree of one sample (``target`` from deficiency mining)."""

    def __init__(self, target: dict[str, Any], reward: Callable[[str], float], tokenizer: Any,
                 params: SearchParams | Mapping[str, Any]) -> None:
        cfg = SearchParams.of(params)
        self.target, self.reward, self.tokenizer = target, reward, tokenizer
        self.k, self.c, self.max_depth, self.fragments = cfg.k, cfg.c, cfg.max_depth, cfg.fragments_per_step
        self.max_new_tokens, self.separators = cfg.max_new_tokens, list(cfg.separators)
        self.nodes = [Node(tokens=(), depth=0, parent=None)]
        self.rollouts: list[dict[str, Any]] = []  # {"tokens", "reward", "finished"}
        self.expansions = self.revisits = 0

    # ------------------------------------------------------------------ PUCT
    def select(self) -> int | None:
        """Walk down by PUCT to a leaf. Returns the leaf to expand, or None after re-evaluating a
        terminal leaf (which uses up the iteration)."""
        index = 0
        while self.nodes[index].children and not self.nodes[index].terminal:
            index = max(self.nodes[index].children, key=lambda c: self._puct(index, c))
        node = self.nodes[index]
        if node.terminal:
            self.revisits += 1
            self._backup(index, node.reward if node.reward is not None else node.value)
            return None
        return index

    def _puct(self, parent: int, child: int) -> float:
        n_parent, node = max(1, self.nodes[parent].visits), self.nodes[child]
        return (node.value_sum / (node.visits + 1)
                + self.c * node.prior * math.sqrt(math.log(n_parent) / (node.visits + 1)))

    def _backup(self, index: int | None, value: float, rollout: int | None = None) -> None:
        while index is not None:
            node = self.nodes[index]
            node.visits += 1
            node.value_sum += value
            if rollout is not None:
                node.rollouts.append(rollout)
            index = node.parent

    # ------------------------------------------------------------------ expansion
    def expand(self, index: int, rollouts: list[Rollout]) -> None:
        """Add one child per distinct first step of ``rollouts`` and back up their rewards."""
        self.expansions += 1
        parent = self.nodes[index]
        for rollout in rollouts:
            cont = rollout.tokens
            if parent.depth + 1 >= self.max_depth:
                n_step = len(cont)
            else:
                head = cont[: self.max_new_tokens]
                texts = [self.tokenizer.decode(head[: i + 1]) for i in range(len(head))]
                n_step = step_length(texts, self.separators, self.fragments)
            step = tuple(cont[:n_step])
            terminal = parent.depth + 1 >= self.max_depth or (rollout.finished and n_step == len(cont))
            answer = self.tokenizer.decode(list(parent.tokens) + list(cont), skip_special_tokens=True)
            reward = float(self.reward(answer))
            self.rollouts.append({"tokens": list(parent.tokens) + list(cont), "reward": reward,
                                  "finished": rollout.finished})
            child = next((c for c in parent.children if self.nodes[c].tokens[len(parent.tokens):] == step), None)
            if child is None:
                lps = rollout.logprobs[:n_step]
                prior = math.exp(sum(lps) / len(lps)) if lps else 1.0
                child = len(self.nodes)
                self.nodes.append(Node(tokens=parent.tokens + step, depth=parent.depth + 1, parent=index,
                                       prior=prior, terminal=terminal, reward=reward if terminal else None))
                parent.children.append(child)
            self._backup(child, reward, len(self.rollouts) - 1)

    # ------------------------------------------------------------------ export
    def to_record(self) -> dict[str, Any]:
        """The tree as a JSON record: the target, every node (answer prefix and step as text,
        visits, value, prior, rollouts through it) and every rollout's complete answer."""
        decode = self.tokenizer.decode
        nodes = []
        for i, node in enumerate(self.nodes):
            start = len(self.nodes[node.parent].tokens) if node.parent is not None else 0
            nodes.append({"id": i, "parent": node.parent, "depth": node.depth, "prefix": decode(list(node.tokens)),
                          "step": decode(list(node.tokens[start:])), "visits": node.visits,
                          "value": round(node.value, 4), "prior": round(node.prior, 4), "terminal": node.terminal,
                          "children": node.children, "rollouts": node.rollouts})
        rollouts = [{"answer": decode(r["tokens"], skip_special_tokens=True), "reward": round(r["reward"], 4),
                     "finished": r["finished"]} for r in self.rollouts]
        target = {key: self.target.get(key) for key in ("id", "kind", "turn", "context", "answer", "calls", "perplexity",
                                                         "policy_answer", "failure", "retained", "contrast")}
        return {"id": self.target["id"], "target": target, "truth_reward": round(float(self.reward(self.target["answer"])), 4),
                "nodes": nodes, "rollouts": rollouts, "expansions": self.expansions, "revisits": self.revisits}


def _seed(base: int, sample_id: str, iteration: int) -> int:
    return (base * 1_000_003 + zlib.crc32(sample_id.encode()) * 101 + iteration) % (2**62)


def run_searches(targets: list[dict[str, Any]], sampler: StepSampler,
                 reward_for: Callable[[dict[str, Any]], Callable[[str], float]],
                 params: SearchParams | Mapping[str, Any], progress: bool = True) -> list[StepSearch]:
    """Search every target for ``n_iterations``; ``batch_samples`` searches run in lockstep so
    their expansions decode as one batch. Each prompt is processed once per sample."""
    cfg = SearchParams.of(params)
    iterations, group, seed = cfg.n_iterations, cfg.batch_samples, cfg.seed
    searches: list[StepSearch] = []
    bar = tqdm(total=len(targets), desc="step-level MCTS", disable=not progress or len(targets) < 2)
    for start in range(0, len(targets), group):
        chunk = [StepSearch(t, reward_for(t), sampler.tokenizer, cfg) for t in targets[start : start + group]]
        prompts = [sampler.prompt_state(sampler.prompt_ids(s.target["context"])) for s in chunk]
        for iteration in range(iterations):
            picks = [(s, p, s.select()) for s, p in zip(chunk, prompts)]
            picks = [(s, p, leaf) for s, p, leaf in picks if leaf is not None]
            results = sampler.expand([(p, list(s.nodes[leaf].tokens), s.k, _seed(seed, s.target["id"], iteration))
                                      for s, p, leaf in picks])
            for (s, _, leaf), rollouts in zip(picks, results):
                s.expand(leaf, rollouts)
        searches.extend(chunk)
        bar.update(len(chunk))
        logger.info("MCTS: %d/%d samples searched (%d nodes so far)", len(searches), len(targets),
                    sum(len(s.nodes) for s in searches))
    bar.close()
    return searches
