"""Training: built-in loops (supervised, adversarial, layerwise), callbacks, runtime settings,
tf.distribute strategies and run directories. See `modelspec.training.run.train_spec`."""
