"""ftpipe: pretrain and fine-tune transformer encoders reproducibly (extractive QA, multiple
choice, GLUE, sequence tagging, ELECTRA pretraining).

The stage scripts in ``stages/`` are thin: they parse paths, read their section of
``params.yaml`` through :mod:`ftpipe.config`, and call the functions here.
"""

import os

# CPU tensors of 2 MB and more on transparent huge pages (PyTorch >= 2.2 reads this; Linux
# only, a no-op where the kernel's THP mode is `never`). A training step allocates large
# buffers anew, the word embeddings' dense gradient first (30,522 x 384 floats, 47 MB, for
# the bundled MiniLM), and each fresh 4 KB page costs a page fault: with 2 MB pages CoLA
# trains 1.09-1.17x faster in bf16 on the BF16 box, bit-identical (fp32: 1.01x; README,
# "Speed"). PyTorch reads the variable once, at its first allocation, so it is set here,
# before anything imports torch (every stage imports ftpipe first).
# THP_MEM_ALLOC_ENABLE=0 in the environment turns it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
