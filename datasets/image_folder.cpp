#include "datasets/image_folder.h"
#include "core/file_io.h"

#include <algorithm>
#include <boost/filesystem.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace fs = boost::filesystem;

namespace rpct {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string first_existing(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (fs::is_regular_file(c)) return c;
  return "";
}

// "<wnid> <name words...>" lines -> wnid -> name.
std::map<std::string, std::string> read_synset_words(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open synset-words file");
  std::map<std::string, std::string> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t sp = line.find_first_of(" \t");
    const std::string wnid = line.substr(0, sp);
    std::string name = sp == std::string::npos ? wnid : line.substr(line.find_first_not_of(" \t", sp));
    if (!out.emplace(wnid, name).second)
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": duplicate wnid " + wnid);
  }
  if (out.empty()) throw std::runtime_error(path + ": synset-words file has no entries");
  return out;
}

// The labels of a flat split (no class directories): image file name -> class index, from `label_path`:
// LOC_val_solution.csv ("ImageId,PredictionString", the first word a wnid of `wnids`) or "<file> <class index>"
// lines (an index below wnids.size() when the classes are known). `files`: the split's images (a label names
// one by its file name or stem). *max_index: the largest index of the second form (-1 if none).
std::unordered_map<std::string, int64_t> read_flat_labels(const std::string& label_path, const std::string& split_dir,
                                                          const std::vector<std::string>& files,
                                                          const std::vector<std::string>& wnids, int64_t* max_index) {
  std::unordered_map<std::string, int64_t> wnid_index;
  for (size_t i = 0; i < wnids.size(); ++i) wnid_index[wnids[i]] = static_cast<int64_t>(i);
  std::unordered_map<std::string, std::string> by_stem;  // stem and full name -> file name
  for (const auto& f : files) {
    by_stem[stem_of(f)] = f;
    by_stem[f] = f;
  }
  std::unordered_map<std::string, int64_t> label_of;  // file name -> label
  std::ifstream in(label_path);
  if (!in) throw std::runtime_error(label_path + ": cannot open label file");
  std::string line;
  int lineno = 0;
  bool csv = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = label_path + ":" + std::to_string(lineno);
    if (lineno == 1 && line.rfind("ImageId", 0) == 0) {
      csv = true;
      continue;
    }
    std::string key;
    int64_t label = -1;
    if (csv) {
      const size_t comma = line.find(',');
      if (comma == std::string::npos) throw std::runtime_error(where + ": expected 'ImageId,PredictionString'");
      key = line.substr(0, comma);
      std::istringstream ps(line.substr(comma + 1));
      std::string wnid;
      ps >> wnid;
      auto it = wnid_index.find(wnid);
      if (it == wnid_index.end())
        throw std::runtime_error(where + ": unknown wnid '" + wnid + "' (not in " +
                                 (wnids.empty() ? std::string("any class list: add train/ or a synset-words file")
                                                    : "the class list") + ")");
      label = it->second;
    } else {
      std::istringstream ls(line);
      std::string rest;
      if (!(ls >> key >> label) || (ls >> rest) || label < 0)
        throw std::runtime_error(where + ": expected '<file> <class index>', got '" + line + "'");
      if (!wnids.empty() && label >= static_cast<int64_t>(wnids.size()))
        throw std::runtime_error(where + ": class index " + std::to_string(label) + " out of range (" +
                                 std::to_string(wnids.size()) + " classes)");
      *max_index = std::max(*max_index, label);
    }
    auto f = by_stem.find(key);
    if (f == by_stem.end()) f = by_stem.find(stem_of(key));
    if (f == by_stem.end()) throw std::runtime_error(where + ": image '" + key + "' not found in " + split_dir);
    label_of[f->second] = label;
  }
  return label_of;
}

}  // namespace

std::string stem_of(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

bool has_image_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string ext = lower(name.substr(dot));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<std::string> list_image_files(const std::string& dir) {
  std::vector<std::string> out;
  for (fs::directory_iterator it(dir), end; it != end; ++it) {
    const std::string name = it->path().filename().string();
    if (has_image_extension(name) && fs::is_regular_file(it->status())) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> list_subdirs(const std::string& dir) {
  std::vector<std::string> out;
  for (fs::directory_iterator it(dir), end; it != end; ++it)
    if (fs::is_directory(it->status())) out.push_back(it->path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> strided_subset(int64_t n, int64_t k) {
  if (k <= 0 || k >= n) k = n;
  std::vector<int64_t> out(k);
  for (int64_t i = 0; i < k; ++i) out[i] = static_cast<int64_t>((static_cast<__int128>(2 * i + 1) * n) / (2 * k));  // centred strides
  return out;
}

ImageFolderDataset ImageFolderDataset::open(const ImageFolderOptions& opt) {
  ImageFolderDataset ds;
  const std::string split_dir = opt.root + "/" + opt.split;
  if (!fs::is_directory(split_dir))
    throw std::runtime_error(split_dir + ": ImageNet split directory not found (expected <root>/" + opt.split +
                             "/<wnid>/*.JPEG or a flat <root>/" + opt.split + "/ with a label file)");
  const std::string synset_path =
      !opt.synset_words.empty() ? opt.synset_words
                                : first_existing({opt.root + "/LOC_synset_mapping.txt", opt.root + "/synset_words.txt"});
  std::map<std::string, std::string> synsets;
  if (!synset_path.empty()) synsets = read_synset_words(synset_path);

  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  const std::vector<std::string> subdirs = list_subdirs(split_dir);
  if (!subdirs.empty()) {
    ds.wnids_ = subdirs;
    for (size_t c = 0; c < subdirs.size(); ++c) {
      const std::string cdir = split_dir + "/" + subdirs[c];
      const auto files = list_image_files(cdir);
      if (files.empty()) throw std::runtime_error(cdir + ": class directory has no .JPEG/.jpg/.png images");
      for (const auto& f : files) {
        paths.push_back(cdir + "/" + f);
        labels.push_back(static_cast<int64_t>(c));
      }
    }
  } else {
    ds.flat_ = true;
    const auto files = list_image_files(split_dir);
    if (files.empty()) throw std::runtime_error(split_dir + ": no class directories and no images");
    const std::string label_path =
        !opt.label_file.empty() ? opt.label_file
                                : first_existing({opt.root + "/LOC_val_solution.csv", opt.root + "/val_labels.txt"});
    if (label_path.empty())
      throw std::runtime_error(split_dir + ": flat layout (no class directories) needs a label file: " + opt.root +
                               "/LOC_val_solution.csv or " + opt.root + "/val_labels.txt (or data.label_file)");
    // Classes: the train split's wnids (the same sorted order), else the synset-words file.
    if (fs::is_directory(opt.root + "/train")) ds.wnids_ = list_subdirs(opt.root + "/train");
    if (ds.wnids_.empty())
      for (const auto& kv : synsets) ds.wnids_.push_back(kv.first);  // std::map: sorted
    int64_t max_index = -1;
    const auto label_of = read_flat_labels(label_path, split_dir, files, ds.wnids_, &max_index);
    if (ds.wnids_.empty())
      for (int64_t i = 0; i <= max_index; ++i) ds.wnids_.push_back(std::to_string(i));
    for (const auto& f : files) {
      auto it = label_of.find(f);
      if (it == label_of.end())
        throw std::runtime_error(split_dir + "/" + f + ": no label for this image in " + label_path);
      paths.push_back(split_dir + "/" + f);
      labels.push_back(it->second);
    }
  }
  for (const auto& w : ds.wnids_) {
    auto it = synsets.find(w);
    ds.names_.push_back(it == synsets.end() ? w : it->second);
  }
  for (int64_t i : strided_subset(static_cast<int64_t>(paths.size()), opt.limit)) {
    ds.paths_.push_back(paths[i]);
    ds.labels_.push_back(labels[i]);
  }
  return ds;
}

ImageFolderSource::ImageFolderSource(ImageFolderDataset ds, ClassificationSourceOptions opt)
    : ds_(std::move(ds)), opt_(std::move(opt)) {
  opt_.mixup.num_classes = ds_.num_classes();
}

Batch ImageFolderSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  const int64_t B = static_cast<int64_t>(indices.size()), S = opt_.transform.img_size;
  Batch b;
  b.epoch = epoch;
  b.x = torch::empty({B, 3, S, S}, batch_float_options(opt_.pin_memory));  // (B, 3, S, S)
  b.y = torch::empty({B}, batch_label_options(opt_.pin_memory));     // (B,)
  float* x = b.x.data_ptr<float>();
  int64_t* y = b.y.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    // indices[i] may be a repeated-augmentation code (sample code % n, copy code / n): the copy number
    // goes into the augmentation key so the copies of one image are augmented differently.
    const int64_t n = ds_.size(), copy_offset = (indices[i] / n) * n;
    const int64_t used = load_with_policy(indices[i] % n, opt_.on_bad_sample, &b.skipped, [&](int64_t idx) {
      const auto bytes = read_file_bytes(ds_.path(idx));
      classification_transform(bytes, ds_.path(idx), opt_.transform, opt_.seed, epoch, idx + copy_offset,
                               x + i * 3 * S * S);
    });
    b.indices.push_back(used);
    y[i] = ds_.label(used);
  }
  if (opt_.transform.train && opt_.mixup_on && opt_.mixup.enabled())
    b.y_soft = mixup_cutmix(b.x, b.y, opt_.mixup, opt_.seed, epoch, b.indices);
  return b;
}

std::string ImageFolderSource::sample_id(int64_t i) const { return fs::path(ds_.path(i)).stem().string(); }

}  // namespace rpct
