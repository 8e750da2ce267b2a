"""Cosine between the FedSGD gradients of Fashion-MNIST test images 100 and 101 (same label), per network and
batch-norm mode: near 1 means the gradient hardly depends on the image."""
import torch

from leaklib.data import load_dataset
from leaklib.fl import fedsgd_update
from leaklib.models import build

data = load_dataset("fashion-mnist")
images = torch.stack([data[i][0] for i in (100, 101)])
label = torch.tensor([data[100][1]])
for name in ["convnet-8", "convnet-64", "lenet-zhu", "resnet20-1"]:
    for bn in ["eval", "train"]:
        model = build(name, num_classes=10, image_shape=data.image_shape, dataset=data.name, seed=0)
        flat = [torch.cat([t.flatten() for t in fedsgd_update(model, images[i:i + 1], label, bn=bn).tensors])
                for i in range(2)]
        print(name, bn, round(float(torch.nn.functional.cosine_similarity(flat[0], flat[1], dim=0)), 4))
