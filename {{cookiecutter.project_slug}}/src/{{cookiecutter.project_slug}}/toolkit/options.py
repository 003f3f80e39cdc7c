"""The optional features this project was made with: the one place that names them.

run.py hands them to the command layer, which calls them through plug_in.py's `Option`.
A feature declined when the project was made has no module here to import.
"""

from {{ cookiecutter.project_slug }}.toolkit.plug_in import Option, Options


def project_options() -> Options:
    # Imported here, not at the top: each import stands with the option it brings.
    chosen: list[Option] = []
{% if cookiecutter.multi_gpu %}
    from {{ cookiecutter.project_slug }}.toolkit.launch import MULTI_GPU

    chosen.append(MULTI_GPU)
{% endif %}
{% if cookiecutter.slurm %}
    from {{ cookiecutter.project_slug }}.toolkit.slurm_commands import SLURM

    chosen.append(SLURM)
{% endif %}
{% if cookiecutter.tracker != 'none' %}
    from {{ cookiecutter.project_slug }}.toolkit.{{ cookiecutter.tracker }}_tracker import TRACKER

    chosen.append(TRACKER)
{% endif %}
    return Options(tuple(chosen))
