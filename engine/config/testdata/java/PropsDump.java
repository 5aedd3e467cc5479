// PropsDump loads every *.properties file of a directory with
// java.util.Properties and writes what it read next to it (*.java.out): one
// "key<TAB>value" line per property, sorted, with backslash and every
// character outside printable ASCII escaped as \\ and \\uXXXX (UTF-16), or
// "ERROR" when load throws. TestJavaDifferential compares Sluice's parser
// with it.
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

public class PropsDump {
  static String esc(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      if (c == '\\') b.append("\\\\");
      else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.toString();
  }

  public static void main(String[] args) throws Exception {
    File[] files = new File(args[0]).listFiles((d, n) -> n.endsWith(".properties"));
    for (File f : files) {
      List<String> lines = new ArrayList<>();
      try (Reader r = new InputStreamReader(new FileInputStream(f), StandardCharsets.UTF_8)) {
        Properties p = new Properties();
        p.load(r);
        for (String k : p.stringPropertyNames()) lines.add(esc(k) + "\t" + esc(p.getProperty(k)));
      } catch (IllegalArgumentException e) {
        lines = new ArrayList<>(List.of("ERROR"));
      }
      Collections.sort(lines);
      Files.write(Paths.get(f.getPath().replace(".properties", ".java.out")), lines, StandardCharsets.UTF_8);
    }
  }
}
