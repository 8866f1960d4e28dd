from exporter.archive import keys


def test_run_keys_follow_the_architecture_layout() -> None:
    run_id = "20261123T020000Z-3f9a"
    assert keys.run_prefix("prod", run_id) == "prod/runs/2026/11/23/20261123T020000Z-3f9a/"
    assert keys.manifest_key("prod", run_id) == "prod/runs/2026/11/23/20261123T020000Z-3f9a/manifest.json"
    key = keys.run_file_key("prod", run_id, "reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz")
    assert (
        key == "prod/runs/2026/11/23/20261123T020000Z-3f9a/reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz"
    )


def test_parse_run_key_inverts_the_layout_and_rejects_strangers() -> None:
    parsed = keys.parse_run_key("prod/runs/2026/11/23/20261123T020000Z-3f9a/manifest.json")
    assert parsed == keys.RunKey("prod", "20261123T020000Z-3f9a", "manifest.json") and parsed.is_manifest
    assert keys.parse_run_key("prod/runs/2026/11/23/not-a-run/manifest.json") is None
    assert keys.parse_run_key("prod/other/x") is None


def test_one_cluster_prefix_never_contains_another() -> None:
    assert not keys.run_prefix("prod-eu", "20261123T020000Z-3f9a").startswith(keys.cluster_runs_prefix("prod"))
