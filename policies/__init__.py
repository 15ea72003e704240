"""twingym.policies: policy bundles, ONNX export, validation suites and gates (and deployment).

Modules, one job each:

- ``bundle``      bundle format: manifest, sha256 digests, ``load_bundle`` / ``require_validated``
- ``onnx_export`` PolicySpec -> ONNX graph (normalisation, MLP, action head inside; dynamic batch)
- ``export``      ``export_spec`` (any PolicySpec) and ``export_run`` (a training run directory)
- ``runtime``     ``OnnxPolicy``: onnxruntime inference shared by validation and deployment
- ``sanitize``    THE handling of non-finite / out-of-range observations (validation = deployment)
- ``scenarios``   scenario suites (YAML) built from each twin's ``scenarios()`` + sensor corruptions
- ``gates``       pass/fail thresholds (``gates.yaml``, tighten-only user files) and verdicts
- ``validate``    batched rollouts of policy.onnx and every baseline with common random numbers
- ``report``      the offline HTML report with plots

Submodules import lazily (``from twingym.policies.bundle import load_bundle``) so importing the
package stays cheap; see ``docs/bundle-format.md``.
"""

__all__ = ["bundle", "export", "gates", "onnx_export", "report", "runtime", "sanitize", "scenarios", "validate"]
