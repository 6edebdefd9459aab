"""``api_synthesis``: raw documents → API context tree → evolved, filtered API pool."""

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.api_synthesis.nodes import (
    build_context_tree,
    evolve_api_pool,
    plot_api_pool,
    prepare_documents,
    summarise_api_pool,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(prepare_documents, ["raw_documents", "params:api_synthesis"],
             ["api_documents", "api_documents_report"], name="prepare_documents"),
        node(build_context_tree, ["api_documents", "params:llm", "params:api_synthesis"],
             ["api_context_tree", "api_speciation_report"], name="speciation"),
        node(evolve_api_pool, ["api_context_tree", "seed_apis", "params:llm", "params:api_synthesis"],
             ["api_pool", "api_rejects", "api_evolution_report"], name="adaptation_and_evolution"),
        node(summarise_api_pool, ["api_pool", "api_rejects", "api_context_tree", "api_documents_report",
                                  "api_speciation_report", "api_evolution_report"],
             ["api_pool_stats", "api_synthesis_metrics"], name="summarise_api_pool"),
        node(plot_api_pool, "api_pool_stats", ["api_domains_plot", "api_parameter_types_plot"],
             name="plot_api_pool"),
    ])
