"""The comparison table from fake reports: every column, a failed variant's row, the base row."""

from toolace_kedro.ablations.table import build_table, error_line, summarise_outputs, held_out_set_id


def _scores(overall, exact, base_overall=0.25):
    def model(value, exact_value):
        return {"aggregates": {"non_live": value, "live": value / 2, "relevance": 1.0, "irrelevance": 0.5,
                               "overall": value},
                "synthetic": {"overall": {"exact_call_accuracy": exact_value, "action_accuracy": 0.5, "dialogs": 9}}}
    return {"sample_size": 3, "models": {"base": model(base_overall, 0.0), "sft": model(overall, exact)}}


def _ok(name, verified, train, nll_after, overall, exact, excluded=None):
    return {"variant": name, "description": f"{name} description", "status": "ok", "seconds": 450.0,
            "save_version": f"2026-11-22T15.0{len(name) % 10}.00.000Z", "mlflow_run_id": f"run-{name}",
            "command": f"kedro run ... {name}", "load_versions": {"dialogs": "v0"},
            "outputs": {"verified_dialogs": verified,
                        "sft_split_report": {"train": train, "test": 9, "excluded_types": excluded or {}},
                        "sft_report": {"train_dialogs": train, "test_nll_before": 1.08, "test_nll_after": nll_after,
                                       "curriculum": {"enabled": True}},
                        "test_set": "9 · abc123", "evaluation_scores": _scores(overall, exact)}}


def test_rows_columns_failed_variant_and_base_row():
    results = [
        _ok("rules_and_judges", 56, 47, 0.71, 0.4, 0.125),
        _ok("no_parallel", 56, 40, 0.75, 0.3, 0.0, excluded={"parallel": 7}),
        {"variant": "verification_off", "description": "no verification", "status": "failed", "seconds": 30.0,
         "error": "ValueError: verified_dialogs: no usable record", "command": "kedro run ...",
         "load_versions": {"dialogs": "v0"}},
        {"variant": "no_curriculum", "description": "no warm-up", "status": "not run",
         "error": "needs the verified_dialogs of rules_and_judges, which failed"},
    ]
    markdown, table = build_table(results, {"grid": "G1", "reference": "rules_and_judges", "sample_size": 3,
                                            "seconds": 1800.0})
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| variant"))
    assert header == ("| variant | status | verified dialogs | training dialogs | held-out set | held-out NLL before "
                      "→ after | BFCL non-live % | BFCL live % | BFCL relevance % | BFCL irrelevance % | BFCL "
                      "overall % | synthetic exact-call % | min |")
    row = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ") and line is not header}
    assert row["rules_and_judges"] == ("| rules_and_judges | ok | 56 | 47 | 9 · abc123 | 1.080 → 0.710 | 40.0 | "
                                       "20.0 | 100.0 | 50.0 | 40.0 | 12.5 | 7.5 |")
    assert row["no_parallel"].startswith("| no_parallel | ok | 56 | 40 |")
    assert row["verification_off"] == "| verification_off | **failed** | – | – | – | – | – | – | – | – | – | – | 0.5 |"
    assert row["no_curriculum"].startswith("| no_curriculum | **not run** | –")
    assert row["base policy (no fine-tuning)"] == ("| base policy (no fine-tuning) | ok | – | – | 9 · abc123 | – | "
                                                   "25.0 | 12.5 | 100.0 | 50.0 | 25.0 | 0.0 | – |")
    assert "- **verification_off**: no verification — error: `ValueError: verified_dialogs: no usable record`" in lines
    assert "grid G1" in lines[0] and "3 items per category" in markdown and "total 30.0 min" in markdown
    rows = {r["variant"]: r for r in table["rows"]}
    assert rows["no_parallel"]["excluded_types"] == {"parallel": 7} and rows["no_parallel"]["bfcl.overall"] == 0.3
    assert rows["verification_off"]["status"] == "failed" and "bfcl.overall" not in rows["verification_off"]
    assert table["base"]["from_variant"] == "rules_and_judges" and table["base"]["bfcl.overall"] == 0.25
    assert table["policy"] == "sft"


def test_irft_grid_scores_the_irft_policy():
    scores = _scores(0.4, 0.1)
    scores["models"]["irft"] = {"aggregates": {"overall": 0.5}, "synthetic": None}
    row = summarise_outputs({"evaluation_scores": scores}, policy="irft")
    assert row["bfcl.overall"] == 0.5 and row["synthetic.exact_call_accuracy"] is None and row["policy"] == "irft"
    _, table = build_table([{"variant": "x", "status": "ok", "outputs": {"evaluation_scores": scores}}], {"irft": True})
    assert table["policy"] == "irft" and table["rows"][0]["bfcl.overall"] == 0.5


def test_error_line_finds_the_exception_in_plain_and_rich_logs():
    plain = ("INFO kedro.runner: Running node: split_train_test\nTraceback (most recent call last):\n"
             '  File "x.py", line 3, in f\n    raise ValueError("boom")\n'
             "ValueError: verified_dialogs: no training dialog left (exclude_types ['parallel'])\n")
    assert error_line(plain) == "ValueError: verified_dialogs: no training dialog left (exclude_types ['parallel'])"
    rich = ("│ 12 │ raise DatasetError(message) │\n╰──────────────╯\n"
            "DatasetError: Failed while loading data from dataset verified_dialogs\n\n")
    assert error_line(rich) == "DatasetError: Failed while loading data from dataset verified_dialogs"
    assert error_line("some output\nKilled\n") == "Killed"
    assert error_line("", returncode=137) == "exit status 137"


def test_held_out_set_id_depends_on_ids_not_order():
    a = [{"id": "x"}, {"id": "y"}]
    assert held_out_set_id(a) == held_out_set_id(a[::-1]) != held_out_set_id([{"id": "x"}])
    assert held_out_set_id(a).startswith("2 · ")
