"""ftpipe: fine-tune transformer encoders reproducibly (extractive QA, multiple choice).

The stage scripts in ``stages/`` are thin: they parse paths, read their section of
``params.yaml`` through :mod:`ftpipe.config`, and call the functions here.
"""

__version__ = "0.1.0"
