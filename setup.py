"""The one top-level package, `trigformer`: the project's folders are its subpackages (flow/ is trigformer.flow, ...).

pyproject.toml holds the metadata; this file only maps the folders, because the list of subpackages (one per op
folder) is found, not written down: a new op folder ships without editing the packaging.
"""

from setuptools import find_packages, setup

MAPPED = ("flow", "models", "sim", "hls_templates")  # folder == subpackage name under trigformer

packages = ["trigformer", *(f"trigformer.{p}" for p in find_packages(include=[f"{m}{s}" for m in MAPPED
                                                                               for s in ("", ".*")]))]
packages.append("trigformer.flow.estimate_data")  # data only (its *.json): listed so setuptools ships it quietly
setup(packages=packages, package_dir={"trigformer": "trigformer", **{f"trigformer.{m}": m for m in MAPPED}})
