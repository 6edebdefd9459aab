"""Speciation: the LLM reads each document and names its domain, sub-domain and the
functionalities it implies; functionality nodes are then expanded into more specific child
functions, level by level, to ``max_depth``. Depths: 0 domain, 1 sub-domain, 2 functionality,
3+ expansions. All requests of a level go out as one batch (and through the response cache); with
shard checkpoints each phase (the extraction, every expansion level) is one shard, so a resumed run
rebuilds the same tree without asking again, not even for the requests that had failed."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from toolace_kedro.llm import LLMClient, ShardCheckpoints
from toolace_kedro.pipelines.api_synthesis.config import SpeciationParams
from toolace_kedro.pipelines.api_synthesis.context_tree import ContextTree

logger = logging.getLogger(__name__)

_AREA = {"type": "string", "pattern": "^[A-Z][a-z]{1,15}( [A-Za-z][a-z]{1,15}){0,2}$"}
_FUNCTION = {"type": "string", "pattern": "^[a-z]{2,15}( [a-z0-9]{1,15}){1,5}$"}


def extraction_schema(max_functionalities: int, taxonomy: list[str] | None = None) -> dict[str, Any]:
    """With a ``taxonomy`` the domain is chosen from it (small models name a service, not a
    domain, when left free); without one it is free text."""
    domain = {"type": "string", "enum": list(taxonomy)} if taxonomy else _AREA
    return {"type": "object", "properties": {
        "domain": domain, "subdomain": _AREA,
        "functionalities": {"type": "array", "items": _FUNCTION, "minItems": 1, "maxItems": max_functionalities}},
        "required": ["domain", "subdomain", "functionalities"]}


def expansion_schema(children: int) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "functions": {"type": "array", "items": _FUNCTION, "minItems": 1, "maxItems": children}},
        "required": ["functions"]}


_EXTRACT_SYSTEM = ("You read documentation and map it to a taxonomy of APIs. Answer in JSON with the "
                   "domain, the sub-domain and the functionalities an API for this text would offer.")
_EXAMPLE_DOC = ("Podcast hosting service. Creators upload episodes with a title and audio file, schedule "
                "publication, and read download statistics per episode and country.")
_EXAMPLE_ANSWER = {"domain": "Entertainment", "subdomain": "Podcasts",
                   "functionalities": ["upload podcast episode", "schedule episode publication",
                                       "get episode download statistics"]}


def extraction_prompt(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": _EXTRACT_SYSTEM},
        {"role": "user", "content": f"Document: {_EXAMPLE_DOC}"},
        {"role": "assistant", "content": json.dumps(_EXAMPLE_ANSWER)},
        {"role": "user", "content": f"Document: {text}"},
    ]


def expansion_prompt(path: list[str], children: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You design APIs. Answer in JSON with more specific functions."},
        {"role": "user", "content": "Area: Entertainment > Podcasts > upload podcast episode. "
                                    "Name 2 more specific functions of it."},
        {"role": "assistant", "content": json.dumps({"functions": ["upload episode audio file",
                                                                   "set episode cover image"]})},
        {"role": "user", "content": f"Area: {' > '.join(path)}. Name {children} more specific functions of it."},
    ]


def speciate(documents: list[dict[str, Any]], llm: LLMClient, params: SpeciationParams | Mapping[str, Any],
             checkpoints: ShardCheckpoints | None = None) -> tuple[ContextTree, dict]:
    """Build the API context tree from documents; returns it with counts for the stats."""
    cfg = SpeciationParams.of(params)
    shards = checkpoints or ShardCheckpoints(None, "speciation", None)
    tree = ContextTree(cfg.merge_threshold)
    counts: Counter = Counter()
    outputs, _ = shards.chat_batch("extraction", llm, [extraction_prompt(d["text"]) for d in documents],
                                   json_schema=extraction_schema(cfg.max_functionalities, cfg.domain_taxonomy),
                                   max_tokens=cfg.max_tokens_extract)
    for doc, text in zip(documents, outputs):
        if text is None:
            counts["extraction_failed"] += 1
            continue
        found = json.loads(text)
        domain = tree.add(found["domain"], "domain", None, [doc["id"]])
        sub = tree.add(found["subdomain"], "domain", domain.id, [doc["id"]])
        for functionality in found["functionalities"]:
            tree.add(functionality, "function", sub.id, [doc["id"]])
        counts["documents_extracted"] += 1

    rng = random.Random(cfg.seed)
    for depth in range(2, cfg.max_depth):
        level = [n for n in tree.at_depth(depth) if n.kind == "function" and not n.children]
        limit = cfg.max_expansions_per_level
        if limit is not None and len(level) > limit:
            level = sorted(rng.sample(level, limit), key=lambda n: int(n.id[1:]))
        if not level:
            break
        outputs, _ = shards.chat_batch(f"expansion-depth-{depth}", llm,
                                       [expansion_prompt(tree.path(n.id), cfg.children_per_node) for n in level],
                                       json_schema=expansion_schema(cfg.children_per_node),
                                       max_tokens=cfg.max_tokens_expand)
        for node, text in zip(level, outputs):
            if text is None:
                counts["expansion_failed"] += 1
                continue
            for child in json.loads(text)["functions"]:
                tree.add(child, "function", node.id, node.documents)
            counts["nodes_expanded"] += 1
    if shards.enabled:
        logger.info("speciation: resumed %d of %d shards", shards.resumed, shards.resumed + shards.written)
    logger.info("context tree: %d nodes, %d domains, depth %d (%s)", len(tree.nodes), len(tree.roots),
                tree.max_depth(), dict(counts))
    return tree, dict(counts)
