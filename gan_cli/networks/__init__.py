"""Network building blocks that model families assemble; families import blocks, never each other.

* ``mlp``: multilayer perceptrons (the vanilla GAN, the AAE's encoder and code discriminator).
* ``dcgan``: DCGAN's transposed-convolution generator and strided-convolution discriminator.
* ``unet``: the pix2pix U-Net generator.
* ``resnet``: the CycleGAN ResNet generator.
* ``patchgan``: the PatchGAN discriminator of pix2pix and CycleGAN.
* ``norm``: the normalisation choice and weight initialisation the translation networks share.
"""
