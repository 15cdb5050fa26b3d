"""What the hub hands the data subject: the access report, its portable copy, the cover letter.

* ``content``  – report.json joined with the processing inventory (GDPR Art. 15 elements)
* ``render``   – Jinja2 templates (``templates/``), autoescaped; texts in ``i18n/<lang>.toml``,
  one file per language of :data:`hub.core.languages.LANGUAGES`
* ``export``   – export.zip for data portability (Art. 20): report.json + one CSV per type

:func:`hub.reports.files.write_report` is the single entry point that writes all files.
"""

from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES"]
