"""The Fishbotics Learning Toolkit: the machinery behind run.py.

These modules are the template's, not the project's: change them with care, and
`cruft update` brings their fixes. They import none of the project's own files
(model.py, data_loader.py, train.py, ...): run.py hands those in.
"""

# The Fishbotics Learning Toolkit template version this project was generated from.
TEMPLATE_VERSION = "{{ cookiecutter._template_version }}"
