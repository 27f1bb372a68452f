import Foundation
import VolSegIO

/// One self-contained HTML page: the stylesheet and the viewer script (report.css, viewer.js,
/// compiled into the binary) and the page's data as `window.VOLSEG_REPORT`. No server, no network,
/// no external script or font: it opens from disk in any current browser.
public enum ReportPage {
    /// The page around `data` (a JSON object text; see viewer.js for its fields).
    public static func html(title: String, data: String) -> String {
        let css = String(decoding: PackageResources.report_css, as: UTF8.self)
        let script = String(decoding: PackageResources.viewer_js, as: UTF8.self)
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escaped(title))</title>
            <style>
            \(css)</style>
            </head>
            <body>
            <h1 id="title"></h1>
            <section id="table-section">
            <div id="summary"></div>
            <label>label <select id="label-filter"></select></label>
            <div id="cases"></div>
            </section>
            <section id="viewer" hidden>
            <h2 id="viewer-title"></h2>
            <div id="controls"></div>
            <div id="planes"></div>
            <div id="voxel"></div>
            </section>
            <script>window.VOLSEG_REPORT = \(scriptSafe(data));</script>
            <script>
            \(script)</script>
            </body>
            </html>

            """
    }

    /// JSON placed inside a <script> element: "</" would end the element, so it is written "<\/"
    /// (the same string to JavaScript).
    public static func scriptSafe(_ json: String) -> String {
        json.replacingOccurrences(of: "</", with: "<\\/")
    }

    /// Text for HTML content or an attribute value.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A JSON value's text: objects with sorted keys, NaN and infinities as null (undefined).
    public static func json(_ value: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: sanitized(value), options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func sanitized(_ value: Any) -> Any {
        switch value {
        case let number as Double: return number.isFinite ? number : NSNull()
        case let array as [Any]: return array.map(sanitized)
        case let object as [String: Any]: return object.mapValues(sanitized)
        case Optional<Any>.none: return NSNull()
        default: return value
        }
    }
}
