"""Map the four top-level layer folders under the ``reidkit`` namespace.

Metadata lives in pyproject.toml. The package list is computed because setuptools silently leaves an
unlisted subpackage out of the wheel while it still imports in an editable install.
"""

from setuptools import find_packages, setup

NAMESPACE = "reidkit"
LAYERS = ("domain", "adapters", "application", "entrypoints")

packages: list[str] = []
package_dir: dict[str, str] = {}
for layer in LAYERS:
    package_dir[f"{NAMESPACE}.{layer}"] = layer
    packages.append(f"{NAMESPACE}.{layer}")
    packages += [f"{NAMESPACE}.{layer}.{sub}" for sub in find_packages(where=layer)]

setup(packages=packages, package_dir=package_dir)
