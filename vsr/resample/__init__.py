"""Resampling: integer bicubic upscaling (`bicubic`) and MATLAB-style `imresize` (`matlab`)."""
