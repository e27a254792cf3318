#include "datasets/picture.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

namespace rpct {
namespace {

// The built-in font: 5 rows of 3 bits a glyph (bit 2 = the left column). Lower case draws as upper case.
const std::map<char, std::array<uint8_t, 5>>& glyphs() {
  static const std::map<char, std::array<uint8_t, 5>> kGlyphs = {
      {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}},
      {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},
      {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
      {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}},
      {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}}, {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},
      {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
      {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}}, {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}},
      {'2', {6, 1, 2, 4, 7}}, {'3', {6, 1, 2, 1, 6}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 6, 1, 6}},
      {'6', {3, 4, 7, 5, 7}}, {'7', {7, 1, 2, 2, 2}}, {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 6}},
      {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}}, {'_', {0, 0, 0, 0, 7}}, {':', {0, 2, 0, 2, 0}},
      {'/', {1, 1, 2, 4, 4}}, {'=', {0, 7, 0, 7, 0}}, {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}},
      {'+', {0, 2, 7, 2, 0}}, {'%', {5, 1, 2, 4, 5}}, {',', {0, 0, 0, 2, 4}}, {' ', {0, 0, 0, 0, 0}}};
  return kGlyphs;
}
constexpr int kGlyphWidth = 3, kGlyphHeight = 5, kGlyphAdvance = 4;  // one blank column between glyphs

}  // namespace

Image blank_image(int width, int height, Rgb fill) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) std::copy(fill.begin(), fill.end(), img.pixels.begin() + i);
  return img;
}

Image label_picture(const torch::Tensor& labels, const std::vector<Rgb>& palette, Rgb other) {
  TORCH_CHECK(labels.dim() == 2, "label_picture: expected an (H, W) label map, got ", labels.sizes());
  const auto l = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const int h = static_cast<int>(l.size(0)), w = static_cast<int>(l.size(1));
  Image img = blank_image(w, h, other);
  const int64_t* p = l.data_ptr<int64_t>();
  for (int64_t i = 0; i < static_cast<int64_t>(h) * w; ++i)
    if (p[i] >= 0 && p[i] < static_cast<int64_t>(palette.size()))
      std::copy(palette[p[i]].begin(), palette[p[i]].end(), img.pixels.begin() + 3 * i);
  return img;
}

Image denormalized_picture(const torch::Tensor& chw, const std::vector<double>& mean, const std::vector<double>& std,
                           int out_w, int out_h) {
  TORCH_CHECK(chw.dim() == 3 && (chw.size(0) == 1 || chw.size(0) == 3), "denormalized_picture: expected (1|3, h, w), got ",
              chw.sizes());
  const int64_t C = chw.size(0);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == C && static_cast<int64_t>(std.size()) == C,
              "denormalized_picture: ", mean.size(), " means and ", std.size(), " stds for ", C, " channels");
  if (out_w <= 0) out_w = static_cast<int>(chw.size(2));
  if (out_h <= 0) out_h = static_cast<int>(chw.size(1));
  auto x = chw.to(torch::kCPU, torch::kFloat32).unsqueeze(0);  // (1, C, h, w)
  if (x.size(2) != out_h || x.size(3) != out_w)
    x = torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{out_h, out_w})
               .mode(torch::kBilinear).align_corners(false));
  const auto m = torch::tensor(mean, torch::kFloat64).to(torch::kFloat32).view({1, C, 1, 1});
  const auto s = torch::tensor(std, torch::kFloat64).to(torch::kFloat32).view({1, C, 1, 1});
  auto pixels = ((x * s + m) * 255.0).round().clamp(0, 255).to(torch::kUInt8)[0];  // (C, out_h, out_w)
  if (C == 1) pixels = pixels.expand({3, -1, -1});
  const auto hwc = pixels.permute({1, 2, 0}).contiguous();
  Image img;
  img.width = out_w;
  img.height = out_h;
  img.channels = 3;
  img.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return img;
}

Image enlarged(const Image& img, int factor) {
  Image out = blank_image(img.width * factor, img.height * factor, {0, 0, 0});
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      std::copy_n(img.row(y / factor) + 3 * (x / factor), 3, out.row(y) + 3 * x);
  return out;
}

void paste(Image& dst, const Image& src, int x, int y) {
  TORCH_CHECK(dst.channels == 3 && src.channels == 3, "paste: RGB images only");
  for (int r = 0; r < src.height; ++r) {
    const int dy = y + r;
    if (dy < 0 || dy >= dst.height) continue;
    for (int c = 0; c < src.width; ++c) {
      const int dx = x + c;
      if (dx < 0 || dx >= dst.width) continue;
      std::copy_n(src.row(r) + 3 * c, 3, dst.row(dy) + 3 * dx);
    }
  }
}

Image side_by_side(const std::vector<Image>& images, int gap, Rgb fill) {
  int w = gap, h = 0;
  for (const auto& im : images) {
    w += im.width + gap;
    h = std::max(h, im.height);
  }
  Image out = blank_image(w, h + 2 * gap, fill);
  int x = gap;
  for (const auto& im : images) {
    paste(out, im, x, gap);
    x += im.width + gap;
  }
  return out;
}

int text_width(const std::string& text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}
int text_height(int scale) { return kGlyphHeight * scale; }

int draw_text(Image& img, int x, int y, const std::string& text, Rgb colour, int scale) {
  const auto& font = glyphs();
  for (size_t i = 0; i < text.size(); ++i) {
    const auto g = font.find(static_cast<char>(std::toupper(static_cast<unsigned char>(text[i]))));
    if (g == font.end()) continue;
    const int gx = x + static_cast<int>(i) * kGlyphAdvance * scale;
    for (int r = 0; r < kGlyphHeight; ++r)
      for (int c = 0; c < kGlyphWidth; ++c) {
        if (!(g->second[r] >> (kGlyphWidth - 1 - c) & 1)) continue;
        for (int sy = 0; sy < scale; ++sy)
          for (int sx = 0; sx < scale; ++sx) {
            const int px = gx + c * scale + sx, py = y + r * scale + sy;
            if (px >= 0 && px < img.width && py >= 0 && py < img.height)
              std::copy(colour.begin(), colour.end(), img.row(py) + 3 * px);
          }
      }
  }
  return text_width(text, scale);
}

Image labelled_grid(const std::vector<std::vector<Image>>& cells, const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& column_labels, int gap) {
  TORCH_CHECK(!cells.empty() && !cells[0].empty(), "labelled_grid: no cells");
  const int cw = cells[0][0].width, ch = cells[0][0].height;
  size_t columns = 0;
  for (const auto& row : cells) columns = std::max(columns, row.size());
  int label_w = 0;
  for (const auto& l : row_labels) label_w = std::max(label_w, text_width(l));
  int col_w = cw;  // columns as wide as their widest caption, cells centred in them
  for (const auto& l : column_labels) col_w = std::max(col_w, text_width(l));
  const int head_h = column_labels.empty() ? 0 : text_height() + gap;
  const int left = gap + label_w + (label_w > 0 ? gap : 0), top = gap + head_h;
  Image out = blank_image(left + static_cast<int>(columns) * (col_w + gap),
                          top + static_cast<int>(cells.size()) * (ch + gap), {255, 255, 255});
  const Rgb ink = {0, 0, 0};
  for (size_t c = 0; c < column_labels.size() && c < columns; ++c)
    draw_text(out, left + static_cast<int>(c) * (col_w + gap) + (col_w - text_width(column_labels[c])) / 2, gap,
              column_labels[c], ink);
  for (size_t r = 0; r < cells.size(); ++r) {
    const int y = top + static_cast<int>(r) * (ch + gap);
    if (r < row_labels.size()) draw_text(out, gap, y + (ch - text_height()) / 2, row_labels[r], ink);
    for (size_t c = 0; c < cells[r].size(); ++c) {
      const Image& cell = cells[r][c];
      if (cell.pixels.empty()) continue;
      TORCH_CHECK(cell.width == cw && cell.height == ch, "labelled_grid: cell (", r, ", ", c, ") is ", cell.width,
                  "x", cell.height, ", not ", cw, "x", ch);
      paste(out, cell, left + static_cast<int>(c) * (col_w + gap) + (col_w - cw) / 2, y);
    }
  }
  return out;
}

}  // namespace rpct
