"""The generator of sample report objects: build and benchmark tooling, not installed with the package.

- `build_bundle` regenerates the sample cluster bundled in `exporter/samples/cluster/`
  (`python -m samplegen.build_bundle`, from the repository root);
- `synthetic` makes arbitrary amounts of the same shapes for tests and benchmarks.

The other modules hold what both are made of: `catalog` (advisories, checks, secret rules), `model` (images,
packages, workloads), `cluster` (the sample cluster `prod-eu-1`), `common` (determinism, object metadata),
`trivy` and `kubescape` (report builders per scanner) and `compose` (whole reports for one workload).
"""
