"""{{ cookiecutter.description }}"""

# The Fishbotics Learning Toolkit template version this project was generated from.
TEMPLATE_VERSION = "{{ cookiecutter._template_version }}"
