"""The one build step pyproject.toml cannot declare: compile the message catalogs (grader/locale/*.po, the
source of truth in the repository) into the .mo files gettext reads, inside the wheel. Without it the
translations would vanish from every installed grader (tests/test_i18n.py builds a wheel and looks)."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_catalogs(build_py):  # noqa: N801  (setuptools command naming)
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(Path("grader/locale").glob("*/LC_MESSAGES/*.po")):
            target = Path(self.build_lib) / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as src:
                catalog = read_po(src)
            with target.open("wb") as out:
                write_mo(out, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": build_py_with_catalogs})
