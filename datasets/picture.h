// Pictures for people: label maps in colour, images side by side or in a labelled grid, short captions in a
// small built-in bitmap font (3x5 pixels a glyph, drawn scaled; letters, digits and . - _ : / = ( ) + % ,).
// What `rpctrain eval --save-predictions`, the TensorBoard image summaries and the robustness benchmarks'
// grids are made of; PNG through encode_png (datasets/decode.h).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "datasets/decode.h"

namespace rpct {

using Rgb = std::array<uint8_t, 3>;

// An RGB image of `width` x `height` filled with `fill`.
Image blank_image(int width, int height, Rgb fill);
// A (H, W) integer label map in `palette` colours; values outside the palette (255 = ignore) in `other`.
Image label_picture(const torch::Tensor& labels, const std::vector<Rgb>& palette, Rgb other = {0, 0, 0});
// A (C, h, w) float image normalized as x = (pixel / 255 - mean) / std (C = 1 grey or 3 RGB; mean and std one
// per channel), back to 8-bit RGB at out_w x out_h (bilinear when the size differs; 0: the image's own size).
Image denormalized_picture(const torch::Tensor& chw, const std::vector<double>& mean, const std::vector<double>& std,
                           int out_w = 0, int out_h = 0);
// `img` enlarged `factor` times, each pixel a factor x factor block (small images made visible).
Image enlarged(const Image& img, int factor);
// Copies `src` into `dst` with its top-left corner at (x, y) (clipped to dst).
void paste(Image& dst, const Image& src, int x, int y);
// Images left to right, top-aligned, `gap` pixels of `fill` between them and around.
Image side_by_side(const std::vector<Image>& images, int gap = 4, Rgb fill = {255, 255, 255});
// `text` in the built-in font at (x, y), each font pixel `scale` x `scale`; characters it lacks are blank.
// Returns the width drawn.
int draw_text(Image& img, int x, int y, const std::string& text, Rgb colour, int scale = 2);
// The width and height draw_text would use.
int text_width(const std::string& text, int scale = 2);
int text_height(int scale = 2);
// A grid: cells[r][c] (all cells the size of the first; an empty image leaves its cell blank), a caption left of
// each row and above each column (a column is as wide as its caption, the cells centred), `gap` pixels between
// cells, on white.
Image labelled_grid(const std::vector<std::vector<Image>>& cells, const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& column_labels, int gap = 4);

}  // namespace rpct
