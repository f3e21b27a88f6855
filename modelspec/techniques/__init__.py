"""Techniques the lectures show on trained image classifiers.

- `fgsm`: adversarial examples by the fast gradient sign method, and the accuracy drop.
- `synthesis`: "turning a network upside down" (an input for a class) and DeepDream.
- `style`: neural style transfer (Gatys et al. 2015) on a convolutional spec's layers.
- `target`: loading a run or spec as a `Classifier`, layer ids → feature models.
- `images`: image files in and out of a model's input range (atomic writes).
- `cli`: the `modelspec attack`, `dream` and `style` commands.

Example:
>>> from modelspec.techniques.target import load_classifier
>>> from modelspec.techniques.fgsm import attack
>>> attack(load_classifier("runs/lenet5"), [0.05, 0.1, 0.2]).as_dict()
"""
