"""The model zoo: ``build(name, ...)`` by name, trained-weight loading, and ``last_linear`` for label rules.

Names (see :func:`list_models`): ``lenet-zhu``, ``convnet[-{width}]``, ``resnet{20,32,44,56,110}[-{width}]``
(CIFAR), ``resnet{18,34,50,101,152}[-{width}]`` (ImageNet style), ``mlp-{hidden}``, ``keras-cifar-cnn``.
"""

from .checkpoint import cache_dir, load_checkpoint, save_trained, train_command, trained_path
from .registry import default_lr
from .zoo import PADDINGS, ModelInfo, build, cached_weights, last_linear, list_models, model_table, set_padding

__all__ = [
    "PADDINGS", "ModelInfo", "build", "cache_dir", "cached_weights", "default_lr", "last_linear", "list_models",
    "load_checkpoint", "model_table", "save_trained", "set_padding", "train_command", "trained_path",
]
