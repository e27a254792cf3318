"""The PyTorch references of bench/ and tests/, in one place:

  config.py        an rpctrain run's resolved config (the config.json `rpctrain train` writes in its run dir)
  attention.py     RPC-Attention (docs/rpc-attention.md), the formula of rpc_attention_reference in PyTorch
  vit.py           the ViT: patch embedding, pre-norm blocks with the attention kinds softmax / sym / kvpos / rpc,
                   the encoder and its classification head (models/vit.cpp, models/attention.cpp)
  fashion_mnist.py Fashion-MNIST's IDX files and the normalization of datasets/fashion_mnist.h
  png.py           a PNG decoder (numpy + zlib) for the ADE20K-layout label maps prepare-data writes
  metrics.py       rpctrain's metrics.jsonl: the warm images/s of a run

Import them with the repository root on PYTHONPATH (bench/run sets it; the tests' registrations too):
    PYTHONPATH=. python bench/segmenter/bench_segmenter.py ...     or     python -m bench.pyref.config RUN_DIR KEY
"""
