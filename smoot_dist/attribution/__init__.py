"""The attribution methods an evaluation explains a model with (Grad, SmoothGrad, Integrated
Gradients, DeepLift, GradientShap, DeepLiftShap, Random), through Captum."""
