"""abng.config: the configuration schema and store (docs/configuration.md).

* :mod:`abng.config.schema` (+ ``schema_access``, ``schema_services``, ``types``, ``rules``): pydantic
  models, ``validate_config``, ``load_config_file``.
* :mod:`abng.config.store`: running / candidate / archive files, ``ConfigStore``.
* :mod:`abng.config.edit`: ``set``/``delete`` by path, ``changed_paths``, diffs.
* :mod:`abng.config.files`: crash-safe writes, file headers, the archive.
* :mod:`abng.config.introspect`: schema tree, ``describe_path``, ``completions``, JSON schema.
* :mod:`abng.config.redact`: secrets as ``"********"`` (D20).
* :mod:`abng.config.advice`: warnings that never block a commit.
* :mod:`abng.config.docgen`: the key reference of docs/configuration.md.
* :mod:`abng.config.rates`: rate strings (D10).
"""
