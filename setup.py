"""Packaging glue that ``pyproject.toml`` cannot express (everything else is declared there).

The YANG modules live in ``yang/`` at the top of the repository, where pyang, the linters and the other
tools look for them, but they must ship inside the package so that an installed server finds them: the
directory is mapped to the package ``esc_netconf.yang`` (``package_dir``), whose ``*.yang`` files are
package data (with its subpackage ``esc_netconf.yang.ietf``, the standard modules), in wheels and editable installs alike. ``find_packages`` keeps every other package found
as before; pyproject's ``packages.find`` cannot add a package that lives outside ``esc_netconf/``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["esc_netconf", "esc_netconf.*"]), "esc_netconf.yang", "esc_netconf.yang.ietf"],
    package_dir={"esc_netconf.yang": "yang"},
)
