// Where app origins live: `--apps-url 'https://*.apps.example.com'`, or on a laptop
// `http://*.localhost:<port>` (browsers send every *.localhost name to loopback). A request
// belongs to an app when its Host is one label under that domain; the label names the app.

export class AppOrigins {
  readonly secure: boolean;
  private scheme: string;
  /** `.apps.example.com` or `.localhost:7420`, lower case, with the port only when it is not the default. */
  private suffix: string;

  constructor(pattern: string) {
    const m = /^(https?):\/\/\*(\.[^/:]+)(?::(\d+))?\/?$/.exec(pattern);
    if (!m) throw new Error(`not an apps URL: ${pattern}`);
    this.scheme = m[1]!;
    this.secure = this.scheme === "https";
    const port = m[3] && m[3] !== (this.secure ? "443" : "80") ? `:${m[3]}` : "";
    this.suffix = `${m[2]!.toLowerCase()}${port}`;
  }

  /** Apps on a loopback server: one origin per app under *.localhost, on the server's own port. */
  static loopback(port: number): AppOrigins {
    return new AppOrigins(`http://*.localhost:${port}`);
  }

  get pattern(): string {
    return `${this.scheme}://*${this.suffix}`;
  }

  /**
   * For a request's Host header: the app label when it is an app origin, "" when it is the apps
   * domain itself (no app), undefined when it has nothing to do with apps.
   */
  labelOf(host: string | null): string | undefined {
    if (!host) return undefined;
    const h = this.withoutDefaultPort(host.toLowerCase());
    if (h === this.suffix.slice(1)) return "";
    if (!h.endsWith(this.suffix)) return undefined;
    const label = h.slice(0, -this.suffix.length);
    return label.length > 0 && !label.includes(".") ? label : undefined;
  }

  /** The origin of the app with this label. */
  origin(label: string): string {
    return `${this.scheme}://${label}${this.suffix}`;
  }

  private withoutDefaultPort(host: string): string {
    const dflt = this.secure ? ":443" : ":80";
    return host.endsWith(dflt) ? host.slice(0, -dflt.length) : host;
  }
}
