//! `inctrl prepare`: turns a dataset as distributed into the MVTec AD layout
//! (`<category>/train/good`, `test/good`, `test/<defect>/`) the way InCTRL's
//! `datasets/preprocess/convert_*.py` scripts do: normal images split 75/25
//! into train/test with scikit-learn's `train_test_split(random_state=42)`,
//! every anomaly in test. Where a script lists a folder with `os.listdir`
//! (whose order depends on the file system) we sort, so runs are reproducible.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use inctrl::eval::split::train_test_split;
use inctrl::preprocess::decode_rgb8;
use inctrl::{Error, Result};

/// The split seed of the original scripts.
const SPLIT_SEED: u32 = 42;
/// AITEX defect codes (second field of a file name) and their class folders.
const AITEX_CLASSES: [(&str, &str); 12] = [
    ("002", "Broken_end"),
    ("006", "Broken_yarn"),
    ("010", "Broken_pick"),
    ("016", "Weft_curling"),
    ("019", "Fuzzyball"),
    ("022", "Cut_selvage"),
    ("023", "Crease"),
    ("025", "Warp_ball"),
    ("027", "Knots"),
    ("029", "Contamination"),
    ("030", "Nep"),
    ("036", "Weft_crack"),
];
/// AITEX and SDD tiles are 256 pixels wide.
const TILE: usize = 256;

/// Convert a published dataset into the MVTec AD layout used by `inctrl eval`.
#[derive(Args)]
pub struct PrepareArgs {
    /// Which dataset SRC holds.
    #[arg(value_enum)]
    dataset: Dataset,
    /// The dataset as downloaded (see the README for where each is published).
    src: PathBuf,
    /// Output folder; the category folder is created inside it.
    dst: PathBuf,
}

/// The datasets of the paper that need converting.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dataset {
    /// ELPV solar cells: `labels.csv` and `images/` (also the `elpv-dataset` PyPI package's `data/`).
    Elpv,
    /// KolektorSDD: `kosNN/PartN.jpg` with `PartN_label.bmp`.
    Sdd,
    /// AITEX fabric: `NODefect_images/`, `Defect_images/Defect_images/`, `Mask_images/Mask_images/`.
    Aitex,
    /// Brain MRI (Kaggle): `no/` and `yes/`.
    Brainmri,
    /// Head CT (Kaggle): `labels.csv` and `head_ct/head_ct/NNN.png`.
    Headct,
    /// VisA: `split_csv/1cls.csv` and the images it lists.
    Visa,
}

/// Runs `inctrl prepare`.
pub fn run(args: PrepareArgs) -> Result<()> {
    let written = match args.dataset {
        Dataset::Elpv => elpv(&args.src, &args.dst.join("elpv"))?,
        Dataset::Sdd => sdd(&args.src, &args.dst.join("SDD"))?,
        Dataset::Aitex => aitex(&args.src, &args.dst.join("AITEX"))?,
        Dataset::Brainmri => brainmri(&args.src, &args.dst.join("brainmri"))?,
        Dataset::Headct => headct(&args.src, &args.dst.join("headct"))?,
        Dataset::Visa => visa(&args.src, &args.dst)?,
    };
    eprintln!("wrote {written} images under {}", args.dst.display());
    Ok(())
}

/// ELPV: probability 0 is normal, 1 is anomalous (folder `mono` or `poly` by cell
/// type); the uncertain 1/3 and 2/3 cells are left out, and so would be a defective
/// cell of any other type, as the script only selects `mono` and `poly`.
fn elpv(src: &Path, out: &Path) -> Result<usize> {
    let labels = read_text(&src.join("labels.csv"))?;
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [path, probability, kind] = fields[..] else {
            return Err(Error::InvalidInput(format!(
                "labels.csv: unexpected line '{line}'"
            )));
        };
        let probability: f64 = probability
            .parse()
            .map_err(|_| Error::InvalidInput(format!("labels.csv: bad probability in '{line}'")))?;
        if probability == 0.0 {
            normal.push(src.join(path));
        } else if probability == 1.0 && matches!(kind, "mono" | "poly") {
            anomalous.push((src.join(path), kind.to_owned()));
        }
    }
    let mut written = copy_split(&normal, out)?;
    for (path, kind) in &anomalous {
        copy_into(path, &out.join("test").join(kind))?;
        written += 1;
    }
    Ok(written)
}

/// Brain MRI: `no/` normal, `yes/` anomalous, copied unchanged.
fn brainmri(src: &Path, out: &Path) -> Result<usize> {
    let normal = files(&src.join("no"))?;
    let mut written = copy_split(&normal, out)?;
    for path in files(&src.join("yes"))? {
        copy_into(&path, &out.join("test/defect"))?;
        written += 1;
    }
    Ok(written)
}

/// Head CT: `labels.csv` rows `id,label` (header skipped); image `head_ct/head_ct/<id:03>.png`.
/// Label 0 is normal and 1 anomalous; the script selects exactly these two values.
fn headct(src: &Path, out: &Path) -> Result<usize> {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for line in read_text(&src.join("labels.csv"))?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let parsed: Option<(u32, u32)> = line
            .split_once(',')
            .and_then(|(id, label)| Some((id.trim().parse().ok()?, label.trim().parse().ok()?)));
        let (id, label) =
            parsed.ok_or_else(|| Error::InvalidInput(format!("labels.csv: bad line '{line}'")))?;
        let path = src.join("head_ct/head_ct").join(format!("{id:03}.png"));
        match label {
            0 => normal.push(path),
            1 => anomalous.push(path),
            _ => {}
        }
    }
    let mut written = copy_split(&normal, out)?;
    for path in &anomalous {
        copy_into(path, &out.join("test/defect"))?;
        written += 1;
    }
    Ok(written)
}

/// KolektorSDD: every image whose name ends in `jpg` (case-sensitive, as the
/// script's test) is cut into three horizontal bands, rows `..h/3`, `h/3..2h/3`
/// and `2h/3..` (integer division), named `<folder>_<stem>_<i>`; a band is
/// anomalous if its part of `<stem>_label.bmp` has any mark.
fn sdd(src: &Path, out: &Path) -> Result<usize> {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for dir in folders(src)? {
        let group = file_name(&dir);
        for path in files(&dir)?
            .into_iter()
            .filter(|p| file_name(p).ends_with("jpg"))
        {
            let stem = stem(&path);
            let image = Image::read(&path)?;
            let label = Image::read(&dir.join(format!("{stem}_label.bmp")))?;
            if (label.width, label.height) != (image.width, image.height) {
                return Err(Error::InvalidInput(format!(
                    "{}: label size differs from the image",
                    path.display()
                )));
            }
            let h = image.height;
            for (i, rows) in [(0, h / 3), (h / 3, h * 2 / 3), (h * 2 / 3, h)]
                .into_iter()
                .enumerate()
            {
                let band = |img: &Image| img.crop(0, rows.0, img.width, rows.1 - rows.0);
                let name = format!("{group}_{stem}_{i}");
                let mask = band(&label);
                if mask.has_marks() {
                    anomalous.push(("defect".to_owned(), name, band(&image), mask));
                } else {
                    normal.push((name, band(&image)));
                }
            }
        }
    }
    write_tiles(out, normal, anomalous)
}

/// AITEX: images cut into 256-pixel-wide tiles (`<folder>_<stem>_<i>` for normal
/// images, `<stem>_<i>` for defect images); a defect image's tiles are kept only
/// where its mask marks the defect, under the class named by its defect code.
fn aitex(src: &Path, out: &Path) -> Result<usize> {
    let mut normal = Vec::new();
    for dir in folders(&src.join("NODefect_images"))? {
        for path in files(&dir)? {
            let image = Image::read(&path)?;
            let prefix = format!("{}_{}", file_name(&dir), stem(&path));
            normal.extend(
                aitex_normal_tiles(&image).map(|(i, tile)| (format!("{prefix}_{i}"), tile)),
            );
        }
    }
    let mut anomalous = Vec::new();
    for path in files(&src.join("Defect_images/Defect_images"))? {
        let stem = stem(&path);
        let class = aitex_class(&stem)?;
        let image = Image::read(&path)?;
        let mask = Image::read(
            &src.join("Mask_images/Mask_images")
                .join(format!("{stem}_mask.png")),
        )?;
        // The script counts tiles by the aspect ratio, ceil(width / height), not
        // by width / 256: 16 for the 4096 × 256 images of the data set.
        for i in 0..image.width.div_ceil(image.height) {
            let (tile, tile_mask) = (
                image.crop(i * TILE, 0, TILE, image.height),
                mask.crop(i * TILE, 0, TILE, mask.height),
            );
            if tile_mask.has_marks() {
                anomalous.push((class.clone(), format!("{stem}_{i}"), tile, tile_mask));
            }
        }
    }
    write_tiles(out, normal, anomalous)
}

/// The script always takes 16 tiles of a normal image, whatever its width (the
/// last may be narrower). Tiles past the right edge would be empty, which the
/// script fails to write; they never occur in the 4096-pixel-wide images, and
/// are skipped here.
fn aitex_normal_tiles(image: &Image) -> impl Iterator<Item = (usize, Image)> + '_ {
    (0..16)
        .map(|i| (i, image.crop(i * TILE, 0, TILE, image.height)))
        .filter(|(_, tile)| tile.width > 0)
}

/// The class folder of a defect image `<id>_<code>_<n>`; an unknown code is an
/// error, as it is a `KeyError` in the script.
fn aitex_class(stem: &str) -> Result<String> {
    let code = stem.split('_').nth(1).unwrap_or_default();
    AITEX_CLASSES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, class)| class.to_string())
        .ok_or_else(|| Error::InvalidInput(format!("AITEX: unknown defect code in '{stem}'")))
}

/// VisA: the official `split_csv/1cls.csv` decides train/test; test masks are
/// binarised (any mark becomes 255).
fn visa(src: &Path, out: &Path) -> Result<usize> {
    let mut written = 0;
    for line in read_text(&src.join("split_csv/1cls.csv"))?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [object, split, label, image, mask, ..] = fields[..] else {
            return Err(Error::InvalidInput(format!(
                "1cls.csv: unexpected line '{line}'"
            )));
        };
        let kind = if label == "normal" { "good" } else { "defect" };
        copy_into(&src.join(image), &out.join(object).join(split).join(kind))?;
        written += 1;
        if split == "test" && kind == "defect" && !mask.is_empty() {
            let mask_path = src.join(mask);
            let binary = Image::read(&mask_path)?.binarised();
            binary.write_png(
                &out.join(object)
                    .join("ground_truth/defect")
                    .join(file_name(&mask_path)),
            )?;
        }
    }
    Ok(written)
}

/// Splits the normal files 75/25 and copies them to `train/good` and `test/good`.
fn copy_split(normal: &[PathBuf], out: &Path) -> Result<usize> {
    let (train, test) = train_test_split(normal, SPLIT_SEED);
    for path in &train {
        copy_into(path, &out.join("train/good"))?;
    }
    for path in &test {
        copy_into(path, &out.join("test/good"))?;
    }
    Ok(normal.len())
}

/// Writes split normal tiles `(name, tile)` and anomalous tiles `(class, name,
/// tile, mask)` as PNG, masks unchanged (not binarised) as `<name>_mask.png`.
fn write_tiles(
    out: &Path,
    normal: Vec<(String, Image)>,
    anomalous: Vec<(String, String, Image, Image)>,
) -> Result<usize> {
    let (train, test) = train_test_split(&normal, SPLIT_SEED);
    for (folder, tiles) in [("train/good", &train), ("test/good", &test)] {
        for (name, tile) in tiles {
            tile.write_png(&out.join(folder).join(format!("{name}.png")))?;
        }
    }
    for (class, name, tile, mask) in &anomalous {
        tile.write_png(&out.join("test").join(class).join(format!("{name}.png")))?;
        mask.write_png(
            &out.join("ground_truth")
                .join(class)
                .join(format!("{name}_mask.png")),
        )?;
    }
    Ok(normal.len() + anomalous.len())
}

/// An 8-bit RGB image, as OpenCV's `imread` reads it (channel order aside).
#[derive(Clone)]
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Image {
    fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
        let (width, height, rgb) =
            decode_rgb8(&bytes).map_err(|e| Error::image(path.display(), e))?;
        Ok(Self {
            width: width as usize,
            height: height as usize,
            rgb,
        })
    }

    /// The part at `(x, y)` of up to `width × height`, clipped like a numpy slice.
    fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Self {
        let (x_end, y_end) = ((x + width).min(self.width), (y + height).min(self.height));
        let (x, y) = (x.min(x_end), y.min(y_end));
        let mut rgb = Vec::with_capacity((x_end - x) * (y_end - y) * 3);
        for row in y..y_end {
            rgb.extend_from_slice(
                &self.rgb[(row * self.width + x) * 3..(row * self.width + x_end) * 3],
            );
        }
        Self {
            width: x_end - x,
            height: y_end - y,
            rgb,
        }
    }

    fn has_marks(&self) -> bool {
        self.rgb.iter().any(|&v| v != 0)
    }

    fn binarised(mut self) -> Self {
        self.rgb
            .iter_mut()
            .filter(|v| **v != 0)
            .for_each(|v| *v = 255);
        self
    }

    fn write_png(&self, path: &Path) -> Result<()> {
        let folder = path.parent().expect("output paths have a folder");
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
        let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&self.rgb))
            .map_err(|e| Error::InvalidInput(format!("writing {}: {e}", path.display())))
    }
}

fn copy_into(path: &Path, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
    std::fs::copy(path, folder.join(file_name(path))).map_err(|e| Error::io(path.display(), e))?;
    Ok(())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))
}

fn sorted(dir: &Path, keep: fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir.display(), e)))
        .collect::<Result<_>>()?;
    paths.retain(|p| keep(p));
    paths.sort();
    Ok(paths)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted(dir, |p| p.is_file())
}

fn folders(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted(dir, |p| p.is_dir())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The name up to its first dot, as the scripts' `name.split('.')[0]`.
fn stem(path: &Path) -> String {
    file_name(path)
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: usize, height: usize) -> Image {
        Image {
            width,
            height,
            rgb: (0..width * height * 3).map(|i| (i % 251) as u8).collect(),
        }
    }

    /// A `width × height` image of value `v` with the pixels `marks` (x, y) set to 255.
    fn filled(width: usize, height: usize, v: u8, marks: &[(usize, usize)]) -> Image {
        let mut rgb = vec![v; width * height * 3];
        for &(x, y) in marks {
            rgb[(y * width + x) * 3..][..3].fill(255);
        }
        Image { width, height, rgb }
    }

    fn write_bmp(img: &Image, path: &Path) {
        let mut file = std::fs::File::create(path).unwrap();
        image::codecs::bmp::BmpEncoder::new(&mut file)
            .encode(
                &img.rgb,
                img.width as u32,
                img.height as u32,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
    }

    /// The sorted file names in `dir` (none if it does not exist).
    fn names(dir: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Writes files `names` (each holding its own name) into `dir`, creating it.
    fn touch(dir: &Path, names: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        for name in names {
            std::fs::write(dir.join(name), name.as_bytes()).unwrap();
        }
    }

    #[test]
    fn crops_like_numpy_slices() {
        let img = image(600, 2);
        let last = img.crop(2 * TILE, 0, TILE, 2);
        assert_eq!((last.width, last.height), (600 - 2 * TILE, 2));
        assert_eq!(&last.rgb[..3], &img.rgb[2 * TILE * 3..2 * TILE * 3 + 3]);
        assert_eq!(img.crop(3 * TILE, 0, TILE, 2).width, 0);
    }

    #[test]
    fn elpv_split_and_folders() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("images")).unwrap();
        let mut labels = String::new();
        for (i, (p, kind)) in [(0.0, "mono"); 8]
            .into_iter()
            .chain([
                (1.0, "mono"),
                (1.0, "poly"),
                (0.3333, "poly"),
                (1.0, "cigs"),
            ])
            .enumerate()
        {
            let name = format!("images/cell{i:04}.png");
            std::fs::write(src.path().join(&name), [i as u8]).unwrap();
            labels += &format!("{name}  {p}   {kind}\n");
        }
        std::fs::write(src.path().join("labels.csv"), labels).unwrap();
        let dst = tempfile::tempdir().unwrap();
        assert_eq!(elpv(src.path(), &dst.path().join("elpv")).unwrap(), 10);
        let count = |f: &str| {
            std::fs::read_dir(dst.path().join("elpv").join(f))
                .unwrap()
                .count()
        };
        assert_eq!(
            (
                count("train/good"),
                count("test/good"),
                count("test/mono"),
                count("test/poly")
            ),
            (6, 2, 1, 1)
        );
        assert!(!dst.path().join("elpv/test/cigs").exists());
        // train_test_split(range(8), test_size=0.25, random_state=42) puts items 1 and 5 in test.
        assert!(dst.path().join("elpv/test/good/cell0001.png").exists());
        assert!(dst.path().join("elpv/test/good/cell0005.png").exists());
    }

    #[test]
    fn sdd_cuts_thirds_and_marks_bands() {
        let src = tempfile::tempdir().unwrap();
        // Height 10: bands are rows 0..3, 3..6 and 6..10.
        for (group, part, mark) in [
            ("kos01", "Part0", Some((1, 2))),
            ("kos01", "Part1", Some((3, 6))),
            ("kos02", "Part0", None),
        ] {
            let dir = src.path().join(group);
            std::fs::create_dir_all(&dir).unwrap();
            // The decoder goes by signature, so PNG bytes stand in for the JPEG.
            filled(4, 10, 7, &[])
                .write_png(&dir.join(format!("{part}.jpg")))
                .unwrap();
            let label = filled(4, 10, 0, mark.as_slice());
            write_bmp(&label, &dir.join(format!("{part}_label.bmp")));
        }
        // Not ending in lower-case `jpg`: ignored, as by the script.
        touch(&src.path().join("kos02"), &["Part9.JPG"]);
        let out = tempfile::tempdir().unwrap();
        let sdd_out = out.path().join("SDD");
        assert_eq!(sdd(src.path(), &sdd_out).unwrap(), 9);
        assert_eq!(
            names(&sdd_out.join("test/defect")),
            ["kos01_Part0_0.png", "kos01_Part1_2.png"]
        );
        assert_eq!(
            names(&sdd_out.join("ground_truth/defect")),
            ["kos01_Part0_0_mask.png", "kos01_Part1_2_mask.png"]
        );
        // Normal bands in order: kos01_Part0_{1,2}, kos01_Part1_{0,1}, kos02_Part0_{0,1,2};
        // train_test_split of 7 puts indices 0 and 1 in test.
        assert_eq!(
            names(&sdd_out.join("test/good")),
            ["kos01_Part0_1.png", "kos01_Part0_2.png"]
        );
        assert_eq!(names(&sdd_out.join("train/good")).len(), 5);
        let last = Image::read(&sdd_out.join("test/defect/kos01_Part1_2.png")).unwrap();
        assert_eq!((last.width, last.height), (4, 4));
        let mask =
            Image::read(&sdd_out.join("ground_truth/defect/kos01_Part1_2_mask.png")).unwrap();
        assert_eq!(
            &mask.rgb[..3 * 4 + 3],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 0, 0, 0]
        );
    }

    #[test]
    fn aitex_tiles_and_classes() {
        let src = tempfile::tempdir().unwrap();
        for dir in ["2306881-210020u", "2311694-1930c7u"] {
            let path = src.path().join("NODefect_images").join(dir);
            std::fs::create_dir_all(&path).unwrap();
            filled(16 * TILE, 2, 9, &[])
                .write_png(&path.join("0001_000_05.png"))
                .unwrap();
        }
        let defects = src.path().join("Defect_images/Defect_images");
        let masks = src.path().join("Mask_images/Mask_images");
        std::fs::create_dir_all(&defects).unwrap();
        std::fs::create_dir_all(&masks).unwrap();
        // 600 × 200: ceil(600 / 200) = 3 tiles, the last 88 pixels wide; marks in tiles 0 and 2.
        filled(600, 200, 5, &[])
            .write_png(&defects.join("0001_002_00.png"))
            .unwrap();
        filled(600, 200, 0, &[(100, 10), (550, 199)])
            .write_png(&masks.join("0001_002_00_mask.png"))
            .unwrap();
        // 1024 × 512: ceil(1024 / 512) = 2 tiles, so a mark at x = 700 (tile 2) is never seen.
        filled(1024, 512, 5, &[])
            .write_png(&defects.join("0002_036_00.png"))
            .unwrap();
        filled(1024, 512, 0, &[(700, 0)])
            .write_png(&masks.join("0002_036_00_mask.png"))
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let aitex_out = out.path().join("AITEX");
        assert_eq!(aitex(src.path(), &aitex_out).unwrap(), 32 + 2);
        assert_eq!(
            names(&aitex_out.join("test/Broken_end")),
            ["0001_002_00_0.png", "0001_002_00_2.png"]
        );
        assert_eq!(
            names(&aitex_out.join("ground_truth/Broken_end")),
            ["0001_002_00_0_mask.png", "0001_002_00_2_mask.png"]
        );
        assert!(!aitex_out.join("test/Weft_crack").exists());
        let last = Image::read(&aitex_out.join("test/Broken_end/0001_002_00_2.png")).unwrap();
        assert_eq!((last.width, last.height), (600 - 2 * TILE, 200));
        // 32 normal tiles; the split puts indices 29, 15, 24, 17, 8, 9, 30, 25 in test.
        let (train, test) = (
            names(&aitex_out.join("train/good")),
            names(&aitex_out.join("test/good")),
        );
        assert_eq!((train.len(), test.len()), (24, 8));
        assert!(test.contains(&"2306881-210020u_0001_000_05_15.png".to_owned()));
        assert!(test.contains(&"2311694-1930c7u_0001_000_05_13.png".to_owned()));
        assert!(train.contains(&"2306881-210020u_0001_000_05_0.png".to_owned()));
    }

    #[test]
    fn aitex_rejects_unknown_defect_codes() {
        assert_eq!(aitex_class("0001_030_02").unwrap(), "Nep");
        assert!(aitex_class("0001_031_02").is_err());
    }

    #[test]
    fn brainmri_splits_sorted_normal_files() {
        let src = tempfile::tempdir().unwrap();
        touch(
            &src.path().join("no"),
            &["e.jpg", "a.jpg", "c.jpg", "b.jpg", "d.jpg"],
        );
        touch(&src.path().join("yes"), &["y1.jpg", "Y2.JPG"]);
        let out = tempfile::tempdir().unwrap();
        let brain = out.path().join("brainmri");
        assert_eq!(brainmri(src.path(), &brain).unwrap(), 7);
        // train_test_split of 5 puts indices 1 and 4 in test.
        assert_eq!(names(&brain.join("test/good")), ["b.jpg", "e.jpg"]);
        assert_eq!(
            names(&brain.join("train/good")),
            ["a.jpg", "c.jpg", "d.jpg"]
        );
        assert_eq!(names(&brain.join("test/defect")), ["Y2.JPG", "y1.jpg"]);
    }

    #[test]
    fn headct_reads_labels_in_csv_order() {
        let src = tempfile::tempdir().unwrap();
        let labels = [1, 0, 0, 1, 0, 0, 1, 0, 1, 1];
        let mut csv = "id,hemorrhage\n".to_owned();
        let mut files = Vec::new();
        for (id, label) in labels.iter().enumerate() {
            csv += &format!("{id},{label}\n");
            files.push(format!("{id:03}.png"));
        }
        std::fs::write(src.path().join("labels.csv"), csv).unwrap();
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        touch(&src.path().join("head_ct/head_ct"), &refs);
        let out = tempfile::tempdir().unwrap();
        let head = out.path().join("headct");
        assert_eq!(headct(src.path(), &head).unwrap(), 10);
        // Normal ids 1, 2, 4, 5, 7: the split of 5 puts indices 1 and 4 in test.
        assert_eq!(names(&head.join("test/good")), ["002.png", "007.png"]);
        assert_eq!(
            names(&head.join("train/good")),
            ["001.png", "004.png", "005.png"]
        );
        assert_eq!(
            names(&head.join("test/defect")),
            ["000.png", "003.png", "006.png", "008.png", "009.png"]
        );
    }

    #[test]
    fn visa_follows_the_csv_and_binarises_masks() {
        let src = tempfile::tempdir().unwrap();
        touch(
            &src.path().join("candle/Data/Images/Normal"),
            &["0000.JPG", "0001.JPG"],
        );
        touch(&src.path().join("candle/Data/Images/Anomaly"), &["000.JPG"]);
        let masks = src.path().join("candle/Data/Masks/Anomaly");
        std::fs::create_dir_all(&masks).unwrap();
        let mut mask = filled(3, 2, 0, &[]);
        mask.rgb[3..6].fill(3);
        mask.write_png(&masks.join("000.png")).unwrap();
        std::fs::create_dir_all(src.path().join("split_csv")).unwrap();
        std::fs::write(
            src.path().join("split_csv/1cls.csv"),
            "object,split,label,image,mask\n\
             candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n\
             candle,test,normal,candle/Data/Images/Normal/0001.JPG,\n\
             candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        assert_eq!(visa(src.path(), out.path()).unwrap(), 3);
        let candle = out.path().join("candle");
        assert_eq!(names(&candle.join("train/good")), ["0000.JPG"]);
        assert_eq!(names(&candle.join("test/good")), ["0001.JPG"]);
        assert_eq!(names(&candle.join("test/defect")), ["000.JPG"]);
        assert_eq!(names(&candle.join("ground_truth/defect")), ["000.png"]);
        let written = Image::read(&candle.join("ground_truth/defect/000.png")).unwrap();
        assert_eq!(
            written.rgb,
            [0, 0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
